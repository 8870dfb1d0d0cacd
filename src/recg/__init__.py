"""recg: zero-shot cross-domain sequential recommendation with LLM item embeddings."""

__version__ = "0.1.0"
