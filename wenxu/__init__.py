"""wenxu (问需): face-to-face needs asking for local government."""

__version__ = "0.1.0"
