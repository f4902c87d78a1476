"""DSPy project: qa_service."""
