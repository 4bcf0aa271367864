"""Running sagas: the saga documents, service commands, the runner and its deadline loop."""
