"""Planktos: serve a website's static files peer-to-peer from its own visitors."""

__version__ = "0.1.0"
