"""Thin edges of the contacts service: HTTP routes and the relay process."""
