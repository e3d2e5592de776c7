"""Pure entities and rules; no I/O, no clock (time is passed in)."""
