"""The `threadline` command: run the platform on one machine, demo it, read it."""
