"""Pure decide/evolve domain code: no I/O."""
