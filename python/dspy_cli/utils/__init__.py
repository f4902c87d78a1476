"""Helpers upstream dspy-cli exposes under ``dspy_cli.utils`` (kept for projects' own tests)."""
