"""vjepa2-hf: V-JEPA 2 as first-class Hugging Face transformers models."""

__version__ = "0.1.0"
