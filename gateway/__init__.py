"""The venue gateway: ingest, validate, aggregate, select, serve."""
