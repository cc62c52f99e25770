"""personae: AI personas that help people."""

__version__ = "0.1.0"
