"""Start, observe and stop workers (training processes, model servers); knows nothing of AWS shapes."""
