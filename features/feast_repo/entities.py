"""The enterprise entity, keyed by its unified social credit code."""

from feast import Entity, ValueType

enterprise = Entity(
    name="enterprise",
    join_keys=["credit_code"],
    value_type=ValueType.STRING,
    description="Technology SME, keyed by its 18-character unified social credit code.",
)
