"""Processes: PostgreSQL, the app servers, the load generator, the sampler, the runner.

Imports config and model only. docker/serve.py imports `services` with the standard library
alone, so nothing here may pull a third-party package at package import time."""
