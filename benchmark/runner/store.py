"""The results store: one folder per grid, one folder per finished trial, never a lost trial.

    results/<grid>/trials/<trial_id>/record.json      the finished record (train_and_evaluate's dict
                                                      minus "per_user", plus trial_id, grid, status,
                                                      finished_at, and the schema's `schema` and
                                                      `defaults`: benchmark.runner.record)
    results/<grid>/trials/<trial_id>/per_user.csv.gz  per-user test metrics
    results/<grid>/trials/<trial_id>/epochs.jsonl     the last attempt's epochs, one JSON line each, written
                                                      while it trains (`open_epoch_log`; extra to the record)
    results/<grid>/failed/<trial_id>.json             a failed attempt: config, error, traceback
    results/<grid>/claims/<trial_id>                  the claim of the process training it (see `Claim`)
    results/<grid>/index.csv                          one row per finished trial, rebuilt from the records

Every file is written to a temporary name and moved into place with `os.replace`, and a trial's
record is written last, so a process killed at any instant leaves either a complete trial or no
finished record at all. A record is the only proof that a trial finished, and only a record that
passes the schema check (`benchmark.runner.record.record_problem`) counts: an invalid one is
reported once, counts as not finished, and a rerun replaces it. Readers get every record upgraded to
the current schema version. Records are strict JSON (no NaN). Every file is 0644, like the prepared
datasets.

The store stays inside its root: an entry (the grid's folder, a trial folder, a record, a per-user
file, a claim, `failed/` or a failure, the index) that is a symlink leading out of the results root
is named once on stderr and left alone: never read, written through, replaced or deleted; a trial
behind one counts as not finished, and storing it fails with `OutsideStore`.

A trial being trained holds a claim: the claim file carries an fcntl lock held by the training
process for as long as it lives, so two runners (or two shards) never train the same trial, and the
claim of a process that died is taken over. Tables and figures read these files, never Ray's
experiment folders.
"""
from __future__ import annotations

import errno
import fcntl
import gzip
import io
import json
import math
import os
import socket
import sys
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.core.atomic import FILE_MODE, atomic_write
from benchmark.core.paths import results_root
from benchmark.runner.record import InvalidRecord, checked, failed_problem, per_user_problem, record_problem, stamped

__all__ = ["Claim", "InvalidRecord", "OutsideStore", "RecordExists", "ResultStore", "StoreUnwritable",
           "claim_holder", "index_frame", "index_row", "record_problem", "utc_now"]

PER_USER_COLUMNS = ("user", "n_train", "recall@5", "ndcg@5", "recall@10", "ndcg@10", "recall@20", "ndcg@20")
INDEX_LEADING = ("trial_id", "grid", "model", "dataset", "matcher", "formulation", "seed", "beta",
                 "best_epoch", "epochs_run", "total_s", "s_per_epoch")
INDEX_PROVENANCE = ("code_hash", "commit", "dirty")  # which code made the row (benchmark.runner.provenance)


EPOCH_LOG = "epochs.jsonl"  # in a trial's folder
MAX_RECORD_BYTES = 64 * 2**20  # a record is a few hundred KB; anything this big is not one
_REPORTED: set[tuple] = set()  # (path, mtime, size) of bad files this process already reported


class RecordExists(FileExistsError):
    """A finished record is already stored for this trial (rerun with force to replace it)."""


class StoreUnwritable(RuntimeError):
    """The results folder cannot be written at all: going on with the grid would only lose trials."""


class OutsideStore(OSError):
    """A store entry is a symlink that leads out of the results root: nothing is written through it."""


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


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


def _strict_json(content: dict) -> bytes:
    """Sorted, indented, and strict: a NaN or inf raises ValueError instead of writing bare `NaN`."""
    return json.dumps(content, indent=1, sort_keys=True, default=_plain, allow_nan=False).encode()


class Claim:
    """A trial being trained by this process: `<grid>/claims/<trial_id>` with an fcntl lock on it.

    The lock lives as long as the open file (so as long as the process: a killed claimant's lock is
    released by the kernel, and the next runner takes the claim over). The file says who holds it."""

    def __init__(self, path: Path, handle):
        self.path, self._handle = path, handle

    @classmethod
    def take(cls, path: Path) -> Claim | None:
        """The claim, or None while another live process holds it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)  # never through a link
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            try:  # the holder may have released (unlinked) it between our open and our lock: retry
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        handle = os.fdopen(fd, "r+")
        handle.truncate(0)
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started_at": utc_now()}))
        handle.flush()
        return cls(path, handle)

    def release(self) -> None:
        if self._handle is not None:
            self.path.unlink(missing_ok=True)  # unlinked while locked, so no one takes a dying claim
            self._handle.close()
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def claim_holder(path: Path) -> dict | None:
    """Who holds the claim at `path` (pid, host, started_at), or None when no live process does."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:  # gone, or a symlink: no claim
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raw = os.read(fd, 4096)
            try:
                holder = json.loads(raw.decode())
            except ValueError:
                holder = {}
            return holder if isinstance(holder, dict) else {}
        return None  # we got the lock: its claimant is gone
    finally:
        os.close(fd)


class ResultStore:
    """The stored trials of one grid (see the module docstring for the layout)."""

    def __init__(self, grid: str, root: Path | None = None):
        self.grid = grid
        self.root = Path(root).resolve() if root is not None else results_root()
        self.folder = self.root / grid
        self.trials_dir = self.folder / "trials"
        self.failed_dir = self.folder / "failed"
        self.claims_dir = self.folder / "claims"
        self.index_path = self.folder / "index.csv"

    # ----- paths
    def record_path(self, trial_id: str) -> Path:
        return self.trials_dir / trial_id / "record.json"

    def per_user_path(self, trial_id: str) -> Path:
        return self.trials_dir / trial_id / "per_user.csv.gz"

    def failed_path(self, trial_id: str) -> Path:
        return self.failed_dir / f"{trial_id}.json"

    def claim_path(self, trial_id: str) -> Path:
        return self.claims_dir / trial_id

    # ----- staying inside the root
    def escape(self, path: Path) -> Path | None:
        """The first entry on the way from the root to `path` that leads out of the root (a symlink to
        somewhere else, or a loop), or None when `path` stays inside."""
        try:
            parts = Path(path).relative_to(self.root).parts
        except ValueError:
            return Path(path)
        current = self.root
        for part in parts:
            current = current / part
            try:
                inside = current.resolve().is_relative_to(self.root)
            except (OSError, RuntimeError):  # a symlink loop
                inside = False
            if not inside:
                return current
        return None

    def _inside(self, path: Path) -> bool:
        """Whether `path` stays inside the root; when it does not, the entry that leads out is named once."""
        entry = self.escape(path)
        if entry is None:
            return True
        key = (str(entry), "outside")
        if key not in _REPORTED:
            _REPORTED.add(key)
            _warn(f"{entry}: a symlink out of the results root {self.root}; left alone (the store never reads, "
                  f"writes or deletes through it, and a trial behind it counts as not finished)")
        return False

    def _refuse_outside(self, *paths: Path) -> None:
        for path in paths:
            if not self._inside(path):
                raise OutsideStore(f"{self.escape(path)}: a symlink out of the results root {self.root}; "
                                   f"nothing written through it")

    def open_epoch_log(self, trial_id: str):
        """A fresh epoch log of `trial_id` (an earlier attempt's is emptied), open for writing lines;
        line-buffered, so each line is on disk once written and a killed trial keeps its epochs. No
        folder below the store root nor the file itself is followed when it is a symlink (OSError)."""
        names = (*Path(self.grid).parts, "trials", trial_id)
        if any(name in ("", ".", "..") or os.sep in name for name in names):
            raise ValueError(f"{self.folder}: trial id {trial_id!r} is not a plain name")
        self.root.mkdir(parents=True, exist_ok=True)
        folder = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for name in names:
                try:
                    os.mkdir(name, dir_fd=folder)
                except FileExistsError:
                    pass
                inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
                os.close(folder)
                folder = inner
            fd = os.open(EPOCH_LOG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE, dir_fd=folder)
        finally:
            os.close(folder)
        handle = os.fdopen(fd, "w", buffering=1, encoding="utf-8")
        os.fchmod(fd, FILE_MODE)  # whatever the umask, like every stored file
        return handle

    # ----- before anything runs
    def check_writable(self) -> None:
        """Create the grid's folder and write a probe file there; StoreUnwritable names the problem."""
        if self.escape(self.folder) is not None:
            raise StoreUnwritable(f"{self.escape(self.folder)}: a symlink out of the results root {self.root}; "
                                  f"choose another results folder with --results or $DMREC_RESULTS")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / f".probe-{os.getpid()}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as error:
            where = next((p for p in (self.folder, *self.folder.parents) if p.exists()), self.folder)
            reason = error.strerror or str(error)
            if where.exists() and not where.is_dir():
                reason = f"{where} is a file, not a folder"
            raise StoreUnwritable(f"{self.folder}: the results folder cannot be written ({reason}); "
                                  f"choose another with --results or $DMREC_RESULTS") from None

    # ----- claims
    def claim(self, trial_id: str) -> Claim | None:
        """Hold trial `trial_id` for training, or None while another live runner holds it (or its claim
        file is a symlink: named once, left alone, and the trial is not trained)."""
        path = self.claim_path(trial_id)
        if not self._inside(path):
            return None
        try:
            return Claim.take(path)
        except OSError as error:
            if error.errno != errno.ELOOP:
                raise
            if (str(path), "link") not in _REPORTED:
                _REPORTED.add((str(path), "link"))
                _warn(f"{path}: a symlink, not a claim; left alone, and the trial is not trained")
            return None

    def claimed_ids(self) -> dict[str, dict]:
        """Trials held by a live process right now -> who holds them (pid, host, started_at)."""
        if not self._inside(self.claims_dir) or not self.claims_dir.is_dir():
            return {}
        held = {}
        for path in self.claims_dir.iterdir():
            holder = claim_holder(path) if self._inside(path) else None
            if holder is not None:
                held[path.name] = holder
        return held

    # ----- reading
    def _report(self, path: Path, problem: str) -> None:
        try:  # the same bad file is reported once per process; a new bad version again
            info = path.stat()
            key = (str(path), info.st_mtime_ns, info.st_size)
        except OSError:
            key = (str(path), None, None)
        if key not in _REPORTED:
            _REPORTED.add(key)
            _warn(f"{path}: {problem}; the trial counts as not finished and a rerun replaces it")

    def _load_json(self, path: Path) -> dict | None:
        """The parsed file, or None (reported once) when it leads out of the root, is truncated, huge,
        not UTF-8, deeply nested, non-strict JSON or otherwise unreadable."""
        if not self._inside(path):
            return None
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_RECORD_BYTES + 1)
            if len(data) > MAX_RECORD_BYTES:
                raise ValueError(f"larger than {MAX_RECORD_BYTES // 2**20} MB")
            content = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
            if not isinstance(content, dict):
                raise ValueError("top level is not an object")
            return content
        except FileNotFoundError:
            return None
        except RecursionError:
            self._report(path, "unreadable (nested too deeply)")
        except (OSError, ValueError) as error:
            self._report(path, f"unreadable ({error})")
        return None

    def _finished_record(self, trial_id: str) -> dict | None:
        path = self.record_path(trial_id)
        record = self._load_json(path)
        if record is None:
            return None
        try:
            return checked(record, trial_id)
        except InvalidRecord as problem:
            self._report(path, f"not a valid finished record ({problem})")
            return None

    def finished_ids(self) -> set[str]:
        if not self._inside(self.trials_dir) or not self.trials_dir.is_dir():
            return set()
        return {d.name for d in self.trials_dir.iterdir()
                if self._inside(d) and (d / "record.json").is_file() and self._finished_record(d.name) is not None}

    def _failure(self, trial_id: str) -> dict | None:
        path = self.failed_path(trial_id)
        failed = self._load_json(path)
        problem = failed_problem(failed, trial_id) if failed is not None else None
        if problem is not None:
            self._report(path, f"not a valid failure record ({problem})")
            return None
        return failed

    def failed_ids(self) -> set[str]:
        """Trials whose last attempt failed (with a valid failure record) and that have no finished record."""
        if not self._inside(self.failed_dir) or not self.failed_dir.is_dir():
            return set()
        failed = {p.stem for p in self.failed_dir.glob("*.json")
                  if not p.name.startswith(".") and self._failure(p.stem) is not None}
        return {t for t in failed if self._finished_record(t) is None}

    def read_record(self, trial_id: str) -> dict:
        record = self._finished_record(trial_id)
        if record is None:
            raise KeyError(f"{self.record_path(trial_id)}: no finished record for trial {trial_id} "
                           f"in grid '{self.grid}'")
        return record

    def read_failed(self, trial_id: str) -> dict:
        failed = self._failure(trial_id)
        if failed is None:
            raise KeyError(f"{self.failed_path(trial_id)}: no failure record for trial {trial_id}")
        return failed

    def read_per_user(self, trial_id: str) -> pd.DataFrame:
        """The per-user test metrics; KeyError (naming the file) when there are none, InvalidRecord
        (naming the column) when they are not numbers."""
        path = self.per_user_path(trial_id)
        if not self._inside(path) or not path.is_file():
            raise KeyError(f"{path}: no per-user metrics for trial {trial_id} in grid '{self.grid}'")
        frame = pd.read_csv(path)
        problem = per_user_problem(frame)
        if problem is not None:
            raise InvalidRecord(problem)  # the caller names the file
        return frame

    def records(self) -> list[dict]:
        """Every valid finished record, at the current schema version (invalid ones are reported once and skipped)."""
        records = (self._finished_record(t) for t in sorted(self.finished_ids()))
        return [r for r in records if r is not None]

    # ----- writing
    def write_finished(self, trial_id: str, record: dict, force: bool = False) -> None:
        """Store a finished trial: per-user file first, record last (the record marks completion).

        Raises `RecordExists` when a finished record is already stored, unless `force`;
        `InvalidRecord` (nothing written) when the record breaks the schema or holds NaN/inf;
        `OutsideStore` (nothing written) when the trial's folder or files lead out of the root."""
        stored = stamped({k: v for k, v in record.items() if k != "per_user"})
        stored.update({"trial_id": trial_id, "grid": self.grid, "status": "finished", "finished_at": utc_now()})
        per_user = record.get("per_user")
        self._store_finished(trial_id, self._record_bytes(trial_id, stored),
                             None if per_user is None else lambda: _per_user_bytes(trial_id, per_user), force)

    def _record_bytes(self, trial_id: str, stored: dict) -> bytes:
        """The record's strict JSON, checked against the schema (InvalidRecord names the problem)."""
        try:
            record_bytes = _strict_json(stored)
        except ValueError as error:
            raise InvalidRecord(f"trial {trial_id}: the record is not strict JSON ({error}); nothing stored") from None
        problem = record_problem(json.loads(record_bytes), trial_id)
        if problem is not None:
            raise InvalidRecord(f"trial {trial_id}: {problem}; nothing stored")
        return record_bytes

    def _store_finished(self, trial_id: str, record_bytes: bytes, per_user, force: bool) -> None:
        """Write a trial's per-user file (`per_user()`'s bytes, when given) then its record, under the
        trial folder's lock; a failure record of the trial goes, superseded."""
        folder = self.trials_dir / trial_id
        self._refuse_outside(folder / ".lock", self.per_user_path(trial_id), self.record_path(trial_id))
        with _locked(folder / ".lock"):
            if not force and self._finished_record(trial_id) is not None:
                raise RecordExists(f"{self.record_path(trial_id)}: trial {trial_id} already has a finished record")
            for stale in folder.glob(".*.tmp"):  # left by a writer that was killed mid-write
                if not stale.is_symlink():
                    stale.unlink(missing_ok=True)
            if per_user is not None:
                atomic_write(self.per_user_path(trial_id), per_user())
            atomic_write(self.record_path(trial_id), record_bytes)
        if self._inside(self.failed_path(trial_id)):
            self.failed_path(trial_id).unlink(missing_ok=True)  # superseded by the finished record

    # ----- trials stored by other grids
    def sibling_stores(self) -> list[ResultStore]:
        """The other grids under this results root that hold trials (sorted by name); a folder that
        leads out of the root is named once and left out."""
        if not self.root.is_dir():
            return []
        siblings = []
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(".") or entry.name == self.folder.name or not self._inside(entry):
                continue
            if entry.is_dir() and self._inside(entry / "trials") and (entry / "trials").is_dir():
                siblings.append(ResultStore(entry.name, self.root))
        return siblings

    def find_elsewhere(self, trial_ids, usable: Callable[[dict], bool]) -> dict[str, str]:
        """Trial id -> the first other grid (by name) under this root holding a record of it that can
        be copied here (see `reusable_record`). Cheap: one listing of each grid's trial folders, and
        only the records of the wanted ids are read."""
        wanted, found = {t for t in trial_ids if t}, {}
        for other in self.sibling_stores():
            if not wanted:
                break
            try:
                names = set(os.listdir(other.trials_dir)) & wanted
            except OSError:
                continue
            for trial_id in sorted(names):
                if other.reusable_record(trial_id, usable) is not None:
                    found[trial_id] = other.grid
                    wanted.discard(trial_id)
        return found

    def reusable_record(self, trial_id: str, usable: Callable[[dict], bool]) -> dict | None:
        """This grid's finished record of `trial_id` when another grid may copy it, else None: no live
        runner holds the trial here, the record passes the read check and `usable`, it is no tuning
        sample, and its per-user file is there."""
        if claim_holder(self.claim_path(trial_id)) is not None or not self._inside(self.per_user_path(trial_id)):
            return None
        record = self._finished_record(trial_id)
        if record is None or "search" in record or not usable(record) or not self.per_user_path(trial_id).is_file():
            return None
        return record

    def _copy_source(self, trial_id: str, usable: Callable[[dict], bool]) -> tuple[dict, bytes] | None:
        """(record, per-user file bytes) of a trial another grid may copy, read under the trial
        folder's lock (shared; a writer holds it exclusively), so the two belong together; None
        when it may not be copied or the per-user file is unreadable."""
        lock = self.trials_dir / trial_id / ".lock"
        if not self._inside(lock):
            return None
        try:
            fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:  # never written by this store: no writer to wait for
            fd = None
        except OSError:
            return None
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_SH)
            record = self.reusable_record(trial_id, usable)
            per_user = self._per_user_file(trial_id) if record is not None else None
        finally:
            if fd is not None:
                os.close(fd)  # releases the lock
        return None if per_user is None else (record, per_user)

    def _per_user_file(self, trial_id: str) -> bytes | None:
        """The per-user file's bytes when they read as per-user metrics, else None (reported once)."""
        path = self.per_user_path(trial_id)
        try:
            data = path.read_bytes()
            problem = per_user_problem(pd.read_csv(io.BytesIO(data), compression="gzip"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            problem = f"unreadable ({error})"
        if problem is not None:
            self._report(path, f"not per-user metrics ({problem})")
            return None
        return data

    def adopt(self, trial_id: str, other: ResultStore, usable: Callable[[dict], bool], force: bool = False) -> bool:
        """Copy `other`'s finished trial into this grid, byte for byte but for the record's `grid`,
        `finished_at` and `reused_from` ({"grid", "finished_at"} of the record copied); the caller
        holds this grid's claim of it. False (nothing written) when `other` holds no record that may
        be copied (`reusable_record`, and a readable per-user file). Raises as `write_finished` does."""
        source = other._copy_source(trial_id, usable)
        if source is None:
            return False
        record, per_user = source
        copy = {**record, "grid": self.grid, "finished_at": utc_now(),
                "reused_from": {"grid": other.grid, "finished_at": record["finished_at"]}}
        self._store_finished(trial_id, self._record_bytes(trial_id, copy), lambda: per_user, force)
        return True

    def write_failed(self, trial_id: str, config: dict, error: BaseException | str, tb: str = "") -> None:
        """Record a failed attempt; a finished record of the same trial is never touched, and nothing is
        written where `failed/` or the file leads out of the root (named once on stderr)."""
        if not self._inside(self.failed_path(trial_id)):
            return
        message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        content = {"trial_id": trial_id, "grid": self.grid, "status": "failed", "config": dict(config),
                   "error": message, "traceback": tb, "failed_at": utc_now()}
        try:
            data = _strict_json(content)
        except ValueError:  # a NaN in the config: the failure is still worth keeping, with the NaN as text
            data = _strict_json(json.loads(json.dumps(content, default=_plain), parse_constant=str))
        atomic_write(self.failed_path(trial_id), data)

    # ----- the index
    def rebuild_index(self) -> None:
        """Rewrite index.csv from the finished records (atomic; serialised by a lock); left alone when
        it or its lock leads out of the root."""
        if not (self._inside(self.index_path) and self._inside(self.folder / ".index.lock")):
            return
        with _locked(self.folder / ".index.lock"):
            frame = index_frame(self.records())
            atomic_write(self.index_path, frame.to_csv(index=False).encode())

    def index(self) -> pd.DataFrame:
        """One row per finished trial; rebuilt first when index.csv does not match the records."""
        finished = self.finished_ids()
        if not self._inside(self.index_path):
            return index_frame(self.records())
        if self.index_path.is_file():
            try:
                frame = pd.read_csv(self.index_path)
                if set(frame["trial_id"].astype(str)) == finished:
                    return frame
            except (ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError):
                pass
        self.rebuild_index()
        return pd.read_csv(self.index_path)


def _per_user_bytes(trial_id: str, per_user) -> bytes:
    """The per-user file's bytes: known columns first, gzip with a fixed mtime (same metrics, same bytes)."""
    frame = pd.DataFrame(per_user)
    missing = [c for c in ("user", "n_train") if c not in frame.columns]
    if missing:
        raise ValueError(f"trial {trial_id}: per_user lacks columns {missing}")
    columns = [c for c in PER_USER_COLUMNS if c in frame.columns]
    columns += [c for c in frame.columns if c not in columns]
    return gzip.compress(frame[columns].to_csv(index=False).encode(), mtime=0)


def index_row(record: dict) -> dict:
    config = record.get("config") or {}
    timings = record.get("timings") or {}
    beta = config.get("beta")
    row = {
        "trial_id": record["trial_id"], "grid": record["grid"], "model": config.get("model"),
        "dataset": config.get("dataset"), "matcher": config.get("matcher") or "none",
        "formulation": config.get("formulation"), "seed": config.get("seed"),
        "beta": float(beta) if beta is not None else math.nan,
        "best_epoch": record.get("best_epoch"), "epochs_run": record.get("epochs_run"),
        "total_s": timings.get("total_s"), "s_per_epoch": timings.get("s_per_epoch"),
        **{key: (record.get("provenance") or {}).get(key) for key in INDEX_PROVENANCE},
    }
    for split in ("test", "valid"):
        for metric, value in sorted((record.get("metrics", {}).get(split) or {}).items()):
            row[f"{split}_{metric}"] = value
    return row


def index_frame(records: list[dict]) -> pd.DataFrame:
    rows = [index_row(r) for r in records]
    leading = list(INDEX_LEADING) + list(INDEX_PROVENANCE)
    frame = pd.DataFrame(rows, columns=leading if not rows else None)
    metric_columns = sorted(c for c in frame.columns if c not in leading)
    return frame[leading + metric_columns]
