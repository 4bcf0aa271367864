"""Use cases of the loyalty service: load, decide, append."""
