"""Error hierarchy. Messages name the field, the value and the rule broken."""


class JifenError(Exception):
    """Base class of every error Jifen raises on purpose."""


class ConfigError(JifenError, ValueError):
    """A configuration file or option breaks its schema or a rule."""


class DataContractError(JifenError, ValueError):
    """A data table breaks its contract (schema, key, or business rule)."""


class CreditCodeError(DataContractError):
    """A unified social credit code is malformed or fails its check character."""


class NotFoundError(JifenError, LookupError):
    """A requested record (enterprise, decision, model) does not exist."""
