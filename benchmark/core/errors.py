"""The data room's two errors: bad data (exit 1) and a bad request for data (exit 2).

A leaf module: everything in `benchmark.data` and every caller may import it without cycles.
"""
from __future__ import annotations


class DataError(ValueError):
    """Bad or missing input data; the message names the file and the problem."""


class DataRequestError(DataError):
    """A request that cannot be served as asked (unknown dataset, unusable --name, an option the
    builder does not take): a bad command line, so the CLI exits 2 rather than 1."""
