"""Where the suite's files live: the repository, the data root and the results root.

Both roots can be moved with an environment variable, which Ray workers inherit, so every process
of a run reads and writes the same folders.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_ROOT_ENV = "DMREC_DATA"
RESULTS_ENV = "DMREC_RESULTS"


def data_root() -> Path:
    """Raw downloads and prepared datasets: $DMREC_DATA, else `<repo>/data`."""
    return Path(os.environ.get(DATA_ROOT_ENV, REPO_ROOT / "data")).resolve()


def results_root() -> Path:
    """Trial records, tables and the report: $DMREC_RESULTS, else `<repo>/results`."""
    return Path(os.environ.get(RESULTS_ENV, REPO_ROOT / "results")).resolve()
