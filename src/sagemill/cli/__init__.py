"""The `sagemill` command line."""
