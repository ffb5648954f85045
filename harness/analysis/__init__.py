"""Runs in, typed findings out: summaries, comparisons, verdicts, breaking points. No text."""
