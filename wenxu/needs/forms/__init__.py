"""Django forms of the needs pages, one module per page."""
