"""Prelude Play: a touchscreen music-therapy session app."""

__version__ = "0.1.0"
