"""Use cases of the pipeline context: load, decide, append; the scheduled checks."""
