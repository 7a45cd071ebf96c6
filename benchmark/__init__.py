"""dmrec-bench: the reproducibility benchmark suite for DMRec (SIGIR 2025)."""
from __future__ import annotations


def version() -> str:
    """The installed distribution's version (pyproject.toml's, once `pip install -e .` ran): what
    every command's `--version` prints."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("dmrec-bench")
    except PackageNotFoundError:
        return "unknown (not installed; pip install -e .)"
