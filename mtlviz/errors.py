"""The project's exception types: every bad input ends in one of these, never a bare traceback."""


class MtlvizError(Exception):
    """Base class: the message says what was expected and what was found."""


class ConfigError(MtlvizError, ValueError):
    """An experiment configuration is invalid. The message starts with the field path."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class DataError(MtlvizError, ValueError):
    """A data source cannot be turned into a task set."""


class TrainingError(MtlvizError, RuntimeError):
    """Training could not run (device unavailable, out of memory, ...)."""


class BudgetError(MtlvizError, ValueError):
    """A run or a table would need more memory or time than this server allows: refused before
    anything is built. The message names the estimate, the budget and what to change."""
