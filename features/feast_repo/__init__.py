"""Feast definitions only: entity, source, feature views and services (no runnable code).

``features.store`` applies these objects programmatically with the offline path made
absolute; a plain ``feast apply`` also works, with the source path relative to the
working directory.
"""
