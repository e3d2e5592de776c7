"""Sagemill: a self-hosted platform that speaks the Amazon SageMaker APIs."""

__version__ = "0.1.0"
