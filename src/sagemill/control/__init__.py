"""Reconcilers and periodic work that move actual state toward desired state."""
