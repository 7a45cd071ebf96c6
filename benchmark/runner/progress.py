"""The live progress view: counts, elapsed time, the grid's ETA, and each running trial's epochs.

On a terminal the running trials are a block of lines redrawn in place under the event lines
(start, done, FAILED); in logs and CI every line is plain and final, and a running trial prints
at most one epoch line per `epoch_line_s` (its first epoch at once). A trial's epochs arrive as
`EpochEvent`s: from the trainer's epoch hook in this process (`--no-ray`), or from Ray Tune's
results (`EPOCH_RESULT`)."""
from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable

from benchmark.runner.training.events import EpochEvent

EPOCH_RESULT = "epoch_event"  # key of a Ray Tune result that is one epoch of a running trial, not its outcome
MEMBER_RESULT = "member"  # key of a Ray Tune result: the trial id of the group member it belongs to


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _seconds(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def epoch_detail(event: EpochEvent, last_valid: float | None) -> str:
    """One running trial's state: epoch, loss, last validation, best so far, s/epoch and its ETA
    (until early stopping if validation stops improving now; "at most": until the last epoch)."""
    valid = f"{last_valid:.4f}" if last_valid is not None else "-"
    best = f"{event.best:.4f} (epoch {event.best_epoch})" if event.best is not None else "-"
    eta = _clock(event.eta_s) + (f" (at most {_clock(event.eta_max_s)})" if event.stop_by < event.epochs else "")
    return (f"epoch {event.epoch}/{event.epochs}  loss {event.loss:.4f}  {event.metric} {valid}  best {best}  "
            f"{_seconds(event.seconds_per_epoch)} s/epoch  ETA {eta}")


class Progress:
    """Counts trials done / running / failed / pending and prints their events and epochs.

    The ETA assumes that each trial left takes as long as the ended trials of the same kind (its
    model) took on average, or of any kind when none has ended yet, `parallel` at a time; a running
    trial that reported epochs counts with its own ETA, and before any trial ended the running
    trials' expected durations stand for the rest. `live`: redraw the running trials in place (default:
    when `stream` is a terminal). `clock`: seconds, monotonic (tests pass a fake one)."""

    def __init__(self, total: int, labels: dict[str, str], parallel: int = 1, stream=None,
                 heartbeat_s: float = 30.0, kinds: dict[str, str] | None = None, epoch_line_s: float = 30.0,
                 live: bool | None = None, clock: Callable[[], float] = time.perf_counter):
        self.total, self.labels, self.parallel = total, labels, max(1, parallel)
        self.kinds = kinds or {}
        self.seconds_by_kind: dict[str, list[float]] = {}
        self.not_started = [t for t in labels if t in self.kinds] if kinds else []
        self.stream = stream or sys.stdout
        self.clock = clock
        self.started_at = clock()
        self.running: dict[str, float] = {}
        self.done = self.failed = self.skipped = 0
        self.reused: dict[str, str] = {}  # trial -> the grid it was copied from (counted as done, took no time)
        self.trial_seconds = 0.0
        self.heartbeat_s, self._last_line = heartbeat_s, 0.0
        self.epoch_line_s = epoch_line_s
        self.live = _is_terminal(self.stream) if live is None else live
        self.latest: dict[str, tuple[EpochEvent, float]] = {}  # running trial -> its last epoch, when it came
        self.last_valid: dict[str, float] = {}  # running trial -> its last validation value
        self._epoch_line_at: dict[str, float] = {}
        self._drawn = 0  # lines of the live block on screen
        self._drawn_at = 0.0

    @property
    def pending(self) -> int:
        return self.total - self.done - self.failed - self.skipped - len(self.running)

    def _trial_left(self, trial_id: str, expected: float, now: float) -> float:
        """Seconds a running trial has left: its own ETA once it reported an epoch, else `expected`
        less what it ran."""
        if trial_id in self.latest:
            event, seen_at = self.latest[trial_id]
            return max(event.eta_s - (now - seen_at), 0.0)
        return max(expected - (now - self.running[trial_id]), 0.0)

    def _mean_trial_seconds(self, now: float) -> float | None:
        ended = self.done - len(self.reused) + self.failed  # skipped and copied trials took no time
        if ended:
            return self.trial_seconds / ended
        guesses = [now - self.running[t] + self._trial_left(t, 0.0, now) for t in self.latest if t in self.running]
        return sum(guesses) / len(guesses) if guesses else None

    def eta(self) -> float | None:
        now = self.clock()
        overall = self._mean_trial_seconds(now)
        if overall is None:
            return None

        def expected(trial_id: str) -> float:
            seen = self.seconds_by_kind.get(self.kinds.get(trial_id))
            return sum(seen) / len(seen) if seen else overall

        left = sum(expected(t) for t in self.not_started) if self.kinds else overall * self.pending
        left += sum(self._trial_left(t, expected(t), now) for t in self.running)
        return left / self.parallel

    def line(self, event: str = "") -> str:
        eta = self.eta()
        counts = (f"[{_clock(self.clock() - self.started_at)}] done {self.done}/{self.total}  "
                  f"running {len(self.running)}  failed {self.failed}  "
                  + (f"skipped {self.skipped}  " if self.skipped else "")
                  + f"pending {self.pending}  "
                  f"ETA {_clock(eta) if eta is not None else '?'}")
        return f"{counts}  | {event}" if event else counts

    # ----- output
    def _print(self, event: str) -> None:
        self._erase()
        print(self.line(event), file=self.stream, flush=True)
        self._last_line = self.clock()
        self._draw()

    def _block(self) -> list[str]:
        """The live block: the counts, then one line per running trial."""
        lines = [self.line()]
        for trial_id, began in self.running.items():
            label = self.labels.get(trial_id, trial_id)
            if trial_id in self.latest:
                lines.append(f"  {label}  {epoch_detail(self.latest[trial_id][0], self.last_valid.get(trial_id))}")
            else:
                lines.append(f"  {label}  setting up ({_clock(self.clock() - began)})")
        return lines

    def _erase(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")  # to the block's first line, clear to the end
            self._drawn = 0

    def _draw(self) -> None:
        if not self.live or not self.running:
            return
        width = max(shutil.get_terminal_size().columns - 1, 20)  # a wrapped line would break the redraw
        lines = [line[:width] for line in self._block()]
        self.stream.write("".join(f"{line}\n" for line in lines))
        self.stream.flush()
        self._drawn, self._drawn_at = len(lines), self.clock()

    def _redraw(self) -> None:
        self._erase()
        self._draw()

    # ----- events
    def started(self, trial_id: str) -> None:
        self.running[trial_id] = self.clock()
        if trial_id in self.not_started:
            self.not_started.remove(trial_id)
        self._print(f"start  {self.labels.get(trial_id, trial_id)}")

    def epoch(self, trial_id: str, event: EpochEvent) -> None:
        """One epoch of a running trial: redrawn at once on a terminal; else a plain line, at most
        one per trial per `epoch_line_s` (the first at once)."""
        now = self.clock()
        if trial_id not in self.running:  # a late result of an ended trial
            return
        self.latest[trial_id] = (event, now)
        if event.valid is not None:
            self.last_valid[trial_id] = event.valid
        if self.live:
            self._redraw()
            return
        if trial_id in self._epoch_line_at and now - self._epoch_line_at[trial_id] < self.epoch_line_s:
            return
        self._epoch_line_at[trial_id] = now
        detail = epoch_detail(event, self.last_valid.get(trial_id))
        self._print(f"epoch  {self.labels.get(trial_id, trial_id)}  {detail}")

    def _forget(self, trial_id: str) -> float | None:
        """Drop a trial from the running ones; when it began."""
        for table in (self.latest, self.last_valid, self._epoch_line_at):
            table.pop(trial_id, None)
        if trial_id in self.not_started:  # ended without a start event (a Ray worker that died early)
            self.not_started.remove(trial_id)
        return self.running.pop(trial_id, None)

    def ended(self, trial_id: str, outcome: dict) -> None:
        """`outcome` is `run_and_store`'s: finished, failed, reused (copied from another grid), or
        skipped ("claimed": another live runner holds the trial; "exists": another runner stored it first)."""
        began = self._forget(trial_id)
        label = self.labels.get(trial_id, trial_id)
        if outcome["status"] in ("claimed", "exists"):
            self.skipped += 1
            why = "another runner is training it" if outcome["status"] == "claimed" else "another runner stored it"
            self._print(f"skip   {label} ({why})")
            return
        if outcome["status"] == "reused":
            self.done += 1
            self.reused[trial_id] = outcome.get("from", "?")
            self._print(f"reused {label} (copied from grid '{self.reused[trial_id]}', not trained)")
            return
        seconds = outcome.get("seconds") or (self.clock() - began if began else 0.0)
        self.trial_seconds += seconds
        self.seconds_by_kind.setdefault(self.kinds.get(trial_id), []).append(seconds)
        if outcome["status"] == "failed":
            self.failed += 1
            self._print(f"FAILED {label} ({seconds:.1f}s): {outcome.get('error', '')[:200]}")
        else:
            self.done += 1
            recall = outcome.get("recall@20")
            detail = f"test recall@20 {recall:.4f}, " if isinstance(recall, float) else ""
            self._print(f"done   {label} ({detail}{seconds:.1f}s)")

    def heartbeat(self) -> None:
        """A status line when nothing else was printed for a while (long trials); on a terminal, a
        redraw (the clocks move)."""
        if self.live:
            if self.clock() - self._drawn_at >= 1.0:  # Ray calls this many times a second
                self._redraw()
        elif self.clock() - self._last_line >= self.heartbeat_s:
            self._print("")


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
