"""The contacts domain: pure decide/evolve code, no I/O."""
