"""One module per command (serve, run, report, compare), each a plain function the CLI wraps."""
