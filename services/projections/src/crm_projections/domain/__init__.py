"""Read-model logic: pure functions from (document, event) to document."""
