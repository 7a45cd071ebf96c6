"""The results store: one folder per grid, one folder per finished trial, never a lost trial.

    results/<grid>/trials/<trial_id>/record.json      the finished record (run_trial's dict minus
                                                      "per_user", plus trial_id, grid, status, finished_at)
    results/<grid>/trials/<trial_id>/per_user.csv.gz  per-user test metrics
    results/<grid>/failed/<trial_id>.json             a failed attempt: config, error, traceback
    results/<grid>/index.csv                          one row per finished trial, rebuilt from the records

Every file is written to a temporary name and moved into place with `os.replace`, and a trial's
record is written last, so a process killed at any instant leaves either a complete trial or no
finished record at all. A record is the only proof that a trial finished: per-trial files need no
lock, and two runs of the same grid only serialise on the index rebuild (an fcntl lock). Tables and
figures read these files, never Ray's experiment folders.
"""
from __future__ import annotations

import fcntl
import gzip
import json
import math
import os
import sys
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.paths import results_root

PER_USER_COLUMNS = ("user", "n_train", "recall@5", "ndcg@5", "recall@10", "ndcg@10", "recall@20", "ndcg@20")
INDEX_LEADING = ("trial_id", "grid", "model", "dataset", "matcher", "formulation", "seed", "beta",
                 "best_epoch", "epochs_run", "total_s", "s_per_epoch")


class RecordExists(FileExistsError):
    """A finished record is already stored for this trial (rerun with force to replace it)."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _plain(value):
    """json.dumps fallback for numpy scalars and arrays."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


class ResultStore:
    """The stored trials of one grid (see the module docstring for the layout)."""

    def __init__(self, grid: str, root: Path | None = None):
        self.grid = grid
        self.root = Path(root).resolve() if root is not None else results_root()
        self.folder = self.root / grid
        self.trials_dir = self.folder / "trials"
        self.failed_dir = self.folder / "failed"
        self.index_path = self.folder / "index.csv"
        self._reported: set[Path] = set()  # unreadable files already reported once

    # ----- paths
    def record_path(self, trial_id: str) -> Path:
        return self.trials_dir / trial_id / "record.json"

    def per_user_path(self, trial_id: str) -> Path:
        return self.trials_dir / trial_id / "per_user.csv.gz"

    def failed_path(self, trial_id: str) -> Path:
        return self.failed_dir / f"{trial_id}.json"

    # ----- reading
    def _load_json(self, path: Path) -> dict | None:
        """The parsed file, or None (reported once) when it is truncated or otherwise unreadable."""
        try:
            content = json.loads(path.read_text())
            if not isinstance(content, dict):
                raise ValueError("top level is not an object")
            return content
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            if path not in self._reported:
                self._reported.add(path)
                _warn(f"{path}: unreadable ({error}); the trial counts as not finished and a rerun replaces it")
            return None

    def _finished_record(self, trial_id: str) -> dict | None:
        record = self._load_json(self.record_path(trial_id))
        if record is None:
            return None
        if record.get("status") != "finished" or record.get("trial_id") != trial_id:
            path = self.record_path(trial_id)
            if path not in self._reported:
                self._reported.add(path)
                _warn(f"{path}: not a finished record of trial {trial_id}; the trial counts as not finished")
            return None
        return record

    def finished_ids(self) -> set[str]:
        if not self.trials_dir.is_dir():
            return set()
        return {d.name for d in self.trials_dir.iterdir()
                if (d / "record.json").is_file() and self._finished_record(d.name) is not None}

    def failed_ids(self) -> set[str]:
        """Trials whose last attempt failed and that have no finished record."""
        if not self.failed_dir.is_dir():
            return set()
        failed = {p.stem for p in self.failed_dir.glob("*.json") if not p.name.startswith(".")}
        return {t for t in failed if self._finished_record(t) is None}

    def read_record(self, trial_id: str) -> dict:
        record = self._finished_record(trial_id)
        if record is None:
            raise KeyError(f"{self.record_path(trial_id)}: no finished record for trial {trial_id} in grid '{self.grid}'")
        return record

    def read_failed(self, trial_id: str) -> dict:
        failed = self._load_json(self.failed_path(trial_id))
        if failed is None:
            raise KeyError(f"{self.failed_path(trial_id)}: no failure record for trial {trial_id}")
        return failed

    def read_per_user(self, trial_id: str) -> pd.DataFrame:
        path = self.per_user_path(trial_id)
        if not path.is_file():
            raise KeyError(f"{path}: no per-user metrics for trial {trial_id} in grid '{self.grid}'")
        return pd.read_csv(path)

    def records(self) -> list[dict]:
        return [self._finished_record(t) for t in sorted(self.finished_ids())]

    # ----- writing
    def write_finished(self, trial_id: str, record: dict, force: bool = False) -> None:
        """Store a finished trial: per-user file first, record last (the record marks completion).

        Raises `RecordExists` when a finished record is already stored, unless `force`."""
        folder = self.trials_dir / trial_id
        with _locked(folder / ".lock"):
            if not force and self._finished_record(trial_id) is not None:
                raise RecordExists(f"{self.record_path(trial_id)}: trial {trial_id} already has a finished record")
            for stale in folder.glob(".*.tmp"):  # left by a writer that was killed mid-write
                stale.unlink(missing_ok=True)
            per_user = record.get("per_user")
            if per_user is not None:
                frame = pd.DataFrame(per_user)
                missing = [c for c in ("user", "n_train") if c not in frame.columns]
                if missing:
                    raise ValueError(f"trial {trial_id}: per_user lacks columns {missing}")
                columns = [c for c in PER_USER_COLUMNS if c in frame.columns]
                columns += [c for c in frame.columns if c not in columns]
                # a fixed gzip mtime: the same metrics give the same bytes
                data = frame[columns].to_csv(index=False).encode()
                _atomic_write(self.per_user_path(trial_id), gzip.compress(data, mtime=0))
            stored = {k: v for k, v in record.items() if k != "per_user"}
            stored.update({"trial_id": trial_id, "grid": self.grid, "status": "finished", "finished_at": utc_now()})
            _atomic_write(self.record_path(trial_id),
                          json.dumps(stored, indent=1, sort_keys=True, default=_plain).encode())
        self.failed_path(trial_id).unlink(missing_ok=True)  # superseded by the finished record

    def write_failed(self, trial_id: str, config: dict, error: BaseException | str, tb: str = "") -> None:
        """Record a failed attempt; a finished record of the same trial is never touched."""
        message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        content = {"trial_id": trial_id, "grid": self.grid, "status": "failed", "config": dict(config),
                   "error": message, "traceback": tb, "failed_at": utc_now()}
        _atomic_write(self.failed_path(trial_id), json.dumps(content, indent=1, sort_keys=True, default=_plain).encode())

    # ----- the index
    def rebuild_index(self) -> None:
        """Rewrite index.csv from the finished records (atomic; serialised by a lock)."""
        with _locked(self.folder / ".index.lock"):
            frame = index_frame(self.records())
            _atomic_write(self.index_path, frame.to_csv(index=False).encode())

    def index(self) -> pd.DataFrame:
        """One row per finished trial; rebuilt first when index.csv does not match the records."""
        finished = self.finished_ids()
        if self.index_path.is_file():
            try:
                frame = pd.read_csv(self.index_path)
                if set(frame["trial_id"].astype(str)) == finished:
                    return frame
            except (ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError):
                pass
        self.rebuild_index()
        return pd.read_csv(self.index_path)


def index_row(record: dict) -> dict:
    config = record.get("config", {})
    timings = record.get("timings", {})
    beta = config.get("beta")
    row = {
        "trial_id": record["trial_id"], "grid": record["grid"], "model": config.get("model"),
        "dataset": config.get("dataset"), "matcher": config.get("matcher") or "none",
        "formulation": config.get("formulation"), "seed": config.get("seed"),
        "beta": float(beta) if beta is not None else math.nan,
        "best_epoch": record.get("best_epoch"), "epochs_run": record.get("epochs_run"),
        "total_s": timings.get("total_s"), "s_per_epoch": timings.get("s_per_epoch"),
    }
    for split in ("test", "valid"):
        for metric, value in sorted((record.get("metrics", {}).get(split) or {}).items()):
            row[f"{split}_{metric}"] = value
    return row


def index_frame(records: list[dict]) -> pd.DataFrame:
    rows = [index_row(r) for r in records]
    frame = pd.DataFrame(rows, columns=list(INDEX_LEADING) if not rows else None)
    metric_columns = sorted(c for c in frame.columns if c not in INDEX_LEADING)
    return frame[list(INDEX_LEADING) + metric_columns]
