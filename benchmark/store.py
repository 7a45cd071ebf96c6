"""The results store: one raw record per finished trial, written so that nothing is ever lost.

    results/<grid>/trials/<trial_id>/record.json      the finished record (run_trial's dict minus
                                                      per_user, plus trial_id, grid, status, finished_at)
    results/<grid>/trials/<trial_id>/per_user.csv.gz  per-user test metrics
    results/<grid>/failed/<trial_id>.json             a failed attempt: config, error, traceback
    results/<grid>/index.csv                          one row per finished trial (pandas reads it in one call)

Every file is written to a temporary name and renamed into place; the record is renamed last, so a
trial counts as finished only once everything it owns is on disk. A failed attempt never touches
a finished record. Concurrent runs of one grid write disjoint per-trial files and take a lock to
rebuild the index. Tables and figures are computed from here, never from Ray's folders.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import sys
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from benchmark.data.prepared import REPO_ROOT

RESULTS_ENV = "DMREC_RESULTS"
PER_USER_COLUMNS = ("user", "n_train")
INDEX_CONFIG_COLUMNS = ("model", "dataset", "matcher", "formulation", "seed", "beta")


def results_root() -> Path:
    return Path(os.environ.get(RESULTS_ENV, REPO_ROOT / "results")).resolve()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _atomic_write_bytes(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value):
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _dumps(obj) -> bytes:
    return json.dumps(obj, indent=1, sort_keys=True, default=_json_default, allow_nan=True).encode()


class ResultStore:
    """Finished and failed trials of one grid."""

    def __init__(self, grid: str, root: Path | None = None):
        self.grid = grid
        self.folder = (Path(root) if root is not None else results_root()) / grid
        self.trials = self.folder / "trials"
        self.failed = self.folder / "failed"

    # --- writing ------------------------------------------------------------------------------
    def write_finished(self, trial_id: str, record: dict, force: bool = False) -> bool:
        """Store a finished trial; False (and nothing written) when one is stored and not `force`."""
        folder = self.trials / trial_id
        if (folder / "record.json").is_file() and not force and self._readable(trial_id):
            return False
        record = dict(record)
        per_user = record.pop("per_user", None)
        if per_user is not None:
            frame = pd.DataFrame(per_user)
            _atomic_write_bytes(folder / "per_user.csv.gz", _gzip_csv(frame))
        record.update({"trial_id": trial_id, "grid": self.grid, "status": "finished", "finished_at": _now()})
        _atomic_write_bytes(folder / "record.json", _dumps(record))
        (self.failed / f"{trial_id}.json").unlink(missing_ok=True)
        return True

    def write_failed(self, trial_id: str, config: dict, error, tb: str = "") -> None:
        """Record a failed attempt; a finished record of the same trial is left as it is."""
        payload = {
            "trial_id": trial_id, "grid": self.grid, "status": "failed", "config": dict(config),
            "error": f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error),
            "traceback": tb, "failed_at": _now(),
        }
        _atomic_write_bytes(self.failed / f"{trial_id}.json", _dumps(payload))

    # --- reading ------------------------------------------------------------------------------
    def _readable(self, trial_id: str) -> bool:
        try:
            self.read_record(trial_id)
            return True
        except (OSError, ValueError):
            return False

    def finished_ids(self) -> set[str]:
        if not self.trials.is_dir():
            return set()
        done = set()
        for folder in self.trials.iterdir():
            if (folder / "record.json").is_file():
                if self._readable(folder.name):
                    done.add(folder.name)
                else:
                    print(f"warning: {folder / 'record.json'} is unreadable; the trial counts as not finished", file=sys.stderr)
        return done

    def failed_ids(self) -> set[str]:
        if not self.failed.is_dir():
            return set()
        return {p.stem for p in self.failed.glob("*.json")} - self.finished_ids()

    def read_record(self, trial_id: str) -> dict:
        path = self.trials / trial_id / "record.json"
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: corrupt record ({error})") from None
        if record.get("status") != "finished":
            raise ValueError(f"{path}: not a finished record")
        return record

    def read_failure(self, trial_id: str) -> dict:
        return json.loads((self.failed / f"{trial_id}.json").read_text())

    def read_per_user(self, trial_id: str) -> pd.DataFrame:
        return pd.read_csv(self.trials / trial_id / "per_user.csv.gz")

    def records(self) -> list[dict]:
        return [self.read_record(trial_id) for trial_id in sorted(self.finished_ids())]

    # --- the index ----------------------------------------------------------------------------
    @contextmanager
    def _lock(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def rebuild_index(self) -> pd.DataFrame:
        rows = [index_row(record) for record in self.records()]
        frame = pd.DataFrame(rows, columns=_index_columns(rows))
        with self._lock():
            _atomic_write_bytes(self.folder / "index.csv", frame.to_csv(index=False).encode())
        return frame

    def index(self) -> pd.DataFrame:
        path = self.folder / "index.csv"
        if not path.is_file():
            return self.rebuild_index()
        return pd.read_csv(path)


def _gzip_csv(frame: pd.DataFrame) -> bytes:
    import gzip

    return gzip.compress(frame.to_csv(index=False).encode(), mtime=0)


def index_row(record: dict) -> dict:
    config = record.get("config", {})
    row = {"trial_id": record["trial_id"], "grid": record["grid"]}
    for key in INDEX_CONFIG_COLUMNS:
        value = config.get(key)
        row[key] = ("none" if value is None else value) if key == "matcher" else (math.nan if value is None and key == "beta" else value)
    row.update({
        "best_epoch": record.get("best_epoch"), "epochs_run": record.get("epochs_run"),
        "total_s": record.get("timings", {}).get("total_s"), "s_per_epoch": record.get("timings", {}).get("s_per_epoch"),
    })
    for split in ("test", "valid"):
        for metric, value in (record.get("metrics", {}).get(split) or {}).items():
            row[f"{split}_{metric}"] = value
    return row


def _index_columns(rows: list[dict]) -> list[str]:
    fixed = ["trial_id", "grid", *INDEX_CONFIG_COLUMNS, "best_epoch", "epochs_run", "total_s", "s_per_epoch"]
    metrics = sorted({key for row in rows for key in row if key not in fixed})
    return fixed + metrics
