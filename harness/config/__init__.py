"""Scenario files and settings: YAML in, a validated frozen model out. Imports nothing above it."""
