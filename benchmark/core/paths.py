"""Where the suite's files live: the repository, the data root and the results root.

Both roots can be moved with an environment variable, which Ray workers inherit, so every process
of a run reads and writes the same folders.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

from benchmark.core.errors import DataError

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_ROOT_ENV = "DMREC_DATA"
RESULTS_ENV = "DMREC_RESULTS"


class RootError(DataError):
    """A data or results root that cannot be resolved to a folder path (a loop of symbolic links)."""


def resolve_root(value: str | Path, given_by: str) -> Path:
    """`value` made absolute with its links resolved; a RootError naming `given_by` (the option or
    variable that set it) where that cannot be done."""
    try:
        return Path(value).resolve()
    except (RuntimeError, OSError) as error:  # Python 3.11 raises RuntimeError("Symlink loop ..."), later OSError
        looped = isinstance(error, RuntimeError) or getattr(error, "errno", None) == errno.ELOOP
        reason = "its symbolic links form a loop" if looped else (getattr(error, "strerror", None) or str(error))
        raise RootError(f"{given_by} {value}: not usable as a folder ({reason})") from None


def data_root() -> Path:
    """Raw downloads and prepared datasets: $DMREC_DATA, else `<repo>/data`."""
    return resolve_root(os.environ.get(DATA_ROOT_ENV, REPO_ROOT / "data"), f"${DATA_ROOT_ENV}")


def results_root() -> Path:
    """Trial records, tables and the report: $DMREC_RESULTS, else `<repo>/results`."""
    return resolve_root(os.environ.get(RESULTS_ENV, REPO_ROOT / "results"), f"${RESULTS_ENV}")
