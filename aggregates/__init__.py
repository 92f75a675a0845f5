"""The domain: one module per aggregate, its events, guards and errors."""
