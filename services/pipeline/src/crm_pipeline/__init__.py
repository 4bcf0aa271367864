"""The pipeline bounded context: leads, opportunities, quotes, orders and receivables."""
