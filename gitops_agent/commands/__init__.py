"""One module per CLI verb; each function returns the exit code."""
