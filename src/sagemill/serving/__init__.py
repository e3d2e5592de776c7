"""Serving: the model server run per endpoint instance, and what routes requests to it."""
