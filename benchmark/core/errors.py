"""The suite's own errors, below every room that raises them: bad data (exit 1), a bad request for
data (exit 2), a bad config (exit 2)."""
from __future__ import annotations


class DataError(ValueError):
    """Bad or missing input data; the message names the file and the problem."""


class DataRequestError(DataError):
    """A request that cannot be served as asked (unknown dataset, unusable --name, an option the
    builder does not take): a bad command line, so the CLI exits 2 rather than 1."""


class ConfigError(ValueError):
    """An unknown key, a bad value, or a malformed yaml; the message names where."""
