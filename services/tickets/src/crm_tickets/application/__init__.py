"""Use cases of the tickets service: load, decide, append; policy; scheduled checks."""
