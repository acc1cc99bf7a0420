"""Notebook-only helpers: the setup cell, the strategy comparison, the upload widget."""
