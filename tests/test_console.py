"""Logging set-up: Feast's misleading registry line is held back unless DEBUG is asked for."""

import logging

from jifen.console import configure_logging

REGISTRY = "feast.infra.registry.registry"


def test_feast_registry_refresh_lines_are_hidden_at_info_and_shown_at_debug() -> None:
    """At INFO the registry's logger passes warnings only; at DEBUG it passes everything."""
    try:
        configure_logging("INFO")
        registry = logging.getLogger(REGISTRY)
        assert not registry.isEnabledFor(logging.INFO)
        assert registry.isEnabledFor(logging.WARNING)
        assert logging.getLogger("feast").isEnabledFor(logging.INFO)  # only that one logger
        configure_logging("DEBUG")
        assert registry.isEnabledFor(logging.DEBUG)
    finally:
        configure_logging("INFO")
