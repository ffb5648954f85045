"""Benchmark harness: Flask vs FastAPI (sync and async) on one users service."""
