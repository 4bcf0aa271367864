"""Pure process managers: evolve, react, resume, deadlines. No I/O."""
