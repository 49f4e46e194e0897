"""GroundRL: train and evaluate vision-language models for visual grounding."""

__version__ = "0.1.0"
