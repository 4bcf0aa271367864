"""Use cases of the contacts context: load, decide, append."""
