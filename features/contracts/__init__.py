"""Data contracts for the raw source tables and the validation that enforces them."""
