"""The read API: queries served from the projection tables; it never writes."""
