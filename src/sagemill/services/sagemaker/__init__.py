"""The SageMaker control plane (AWS JSON 1.1, target prefix SageMaker)."""
