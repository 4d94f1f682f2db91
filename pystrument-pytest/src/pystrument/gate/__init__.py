"""pystrument CI gate: a pytest plugin (``pytest --pystrument``, entry point ``pytest11``) that profiles the run's
requests and test functions, uploads them as a version, compares it with a baseline on the server and fails the
run on a significant regression. Usage: docs/ci-gate.md."""
