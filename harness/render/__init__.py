"""Findings in, documents out (Markdown, HTML, JSON, CSV, charts): formatting only."""
