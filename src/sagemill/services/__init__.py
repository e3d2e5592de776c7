"""One package per AWS API; thin handlers that validate, write desired state and map shapes."""
