"""Which code is running: the git commit of the checkout, or, for a copy of the tree (rsync to a
cluster, a GPU box), the commit named by `$DMREC_COMMIT` by whoever copied it.

The one place that asks git; records, measurements and the code hash all name commits through it.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from benchmark.core.paths import REPO_ROOT

COMMIT_VARIABLE = "DMREC_COMMIT"


def git(*args: str, root: Path = REPO_ROOT) -> str | None:
    """git's stdout for `args` run in `root`, or None outside a checkout (or without git)."""
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, cwd=str(root))
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def source_commit(root: Path = REPO_ROOT) -> str | None:
    """The full commit the code runs from: `$DMREC_COMMIT` when whoever copied the tree set it (a
    copy may carry no .git, or an older one than its files), else git's HEAD. A name for readers:
    the code hash, not this name, is what makes a record stale."""
    named = os.environ.get(COMMIT_VARIABLE)
    if named:
        return named
    head = git("rev-parse", "HEAD", root=root)
    return head.strip() if head else None


def is_dirty(*paths: str, root: Path = REPO_ROOT) -> bool | None:
    """True when git reports a change: to `paths` (an untracked one counts: it is code the commit
    lacks), else to any tracked file (scratch files beside the tree do not). None outside a checkout,
    and when `$DMREC_COMMIT` names the commit (git's .git, if any, is not that commit's)."""
    if os.environ.get(COMMIT_VARIABLE):
        return None
    untracked = "--untracked-files=all" if paths else "--untracked-files=no"
    status = git("status", "--porcelain", untracked, "--", *paths, root=root)
    return None if status is None else bool(status.strip())
