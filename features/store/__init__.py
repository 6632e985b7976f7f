"""Feast feature store: configuration, offline/online plumbing and the ``features`` CLI."""
