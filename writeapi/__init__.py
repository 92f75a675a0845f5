"""The write API: commands in, events appended, positions out."""
