"""The write model: commands and the application whose methods handle them."""
