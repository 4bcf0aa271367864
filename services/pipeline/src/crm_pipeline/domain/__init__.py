"""The pipeline domain: pure decide/evolve code per aggregate, no I/O."""
