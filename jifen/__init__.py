"""Jifen: cross-cutting pieces shared by every stage (errors, settings, CLI root)."""
