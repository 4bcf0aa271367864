"""Applying events to read models: shared by the live consumer and the rebuild."""
