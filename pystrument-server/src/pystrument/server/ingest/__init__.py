"""Ingest: what every way in (the HTTP route, the Redis-stream consumer, the importer, the demo) goes through: the
bounded decode types, the per-record and per-project cardinality limits, and the file importer."""
