"""Versioned feature definitions (YAML) and the pydantic model that validates them."""
