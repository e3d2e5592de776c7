"""The wire: route, authenticate, parse, dispatch and serialize AWS requests; knows nothing of ML."""
