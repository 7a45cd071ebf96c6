"""A live progress view printed as plain lines (CI logs, no curses): counts, elapsed time, ETA."""
from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Counts trials done / running / failed / pending and prints one line per event.

    The ETA assumes that each trial left takes as long as the ended trials of the same kind (its
    model) took on average, or of any kind when none has ended yet, `parallel` at a time."""

    def __init__(self, total: int, labels: dict[str, str], parallel: int = 1, stream=None,
                 heartbeat_s: float = 30.0, kinds: dict[str, str] | None = None):
        self.total, self.labels, self.parallel = total, labels, max(1, parallel)
        self.kinds = kinds or {}
        self.seconds_by_kind: dict[str, list[float]] = {}
        self.not_started = [t for t in labels if t in self.kinds] if kinds else []
        self.stream = stream or sys.stdout
        self.started_at = time.perf_counter()
        self.running: dict[str, float] = {}
        self.done = self.failed = self.skipped = 0
        self.trial_seconds = 0.0
        self.heartbeat_s, self._last_line = heartbeat_s, 0.0

    @property
    def pending(self) -> int:
        return self.total - self.done - self.failed - self.skipped - len(self.running)

    def eta(self) -> float | None:
        ended = self.done + self.failed  # skipped trials took no time and say nothing about the rest
        if not ended:
            return None
        overall = self.trial_seconds / ended
        if not self.kinds:
            return overall * (self.pending + len(self.running)) / self.parallel

        def expected(trial_id: str) -> float:
            seen = self.seconds_by_kind.get(self.kinds.get(trial_id))
            return sum(seen) / len(seen) if seen else overall

        now = time.perf_counter()
        left = sum(expected(t) for t in self.not_started)
        left += sum(max(expected(t) - (now - began), 0.0) for t, began in self.running.items())
        return left / self.parallel

    def line(self, event: str = "") -> str:
        eta = self.eta()
        counts = (f"[{_clock(time.perf_counter() - self.started_at)}] done {self.done}/{self.total}  "
                  f"running {len(self.running)}  failed {self.failed}  "
                  + (f"skipped {self.skipped}  " if self.skipped else "")
                  + f"pending {self.pending}  "
                  f"ETA {_clock(eta) if eta is not None else '?'}")
        return f"{counts}  | {event}" if event else counts

    def _print(self, event: str) -> None:
        print(self.line(event), file=self.stream, flush=True)
        self._last_line = time.perf_counter()

    def started(self, trial_id: str) -> None:
        self.running[trial_id] = time.perf_counter()
        if trial_id in self.not_started:
            self.not_started.remove(trial_id)
        self._print(f"start  {self.labels.get(trial_id, trial_id)}")

    def ended(self, trial_id: str, outcome: dict) -> None:
        """`outcome` is `run_and_store`'s: finished, failed, or skipped ("claimed": another live runner
        holds the trial; "exists": another runner stored it first)."""
        if outcome["status"] in ("claimed", "exists"):
            self.running.pop(trial_id, None)
            if trial_id in self.not_started:
                self.not_started.remove(trial_id)
            self.skipped += 1
            why = "another runner is training it" if outcome["status"] == "claimed" else "another runner stored it"
            self._print(f"skip   {self.labels.get(trial_id, trial_id)} ({why})")
            return
        began = self.running.pop(trial_id, None)
        seconds = outcome.get("seconds") or (time.perf_counter() - began if began else 0.0)
        self.trial_seconds += seconds
        if trial_id in self.not_started:  # ended without a start event (a Ray worker that died early)
            self.not_started.remove(trial_id)
        self.seconds_by_kind.setdefault(self.kinds.get(trial_id), []).append(seconds)
        label = self.labels.get(trial_id, trial_id)
        if outcome["status"] == "failed":
            self.failed += 1
            self._print(f"FAILED {label} ({seconds:.1f}s): {outcome.get('error', '')[:200]}")
        else:
            self.done += 1
            recall = outcome.get("recall@20")
            detail = f"test recall@20 {recall:.4f}, " if isinstance(recall, float) else ""
            self._print(f"done   {label} ({detail}{seconds:.1f}s)")

    def heartbeat(self) -> None:
        """A status line when nothing else was printed for a while (long trials)."""
        if time.perf_counter() - self._last_line >= self.heartbeat_s:
            self._print("")
