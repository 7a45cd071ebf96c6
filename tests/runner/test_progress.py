"""The progress lines: counts and an ETA from the average time of each kind of trial."""
import io

from benchmark.runner.progress import Progress, epoch_detail
from benchmark.runner.training.events import EpochEvent


def test_counts_and_eta_by_kind():
    stream = io.StringIO()
    kinds = {"a1": "multvae", "a2": "multvae", "b1": "lightgcn", "b2": "lightgcn", "b3": "lightgcn"}
    progress = Progress(5, {t: t for t in kinds}, parallel=2, stream=stream, kinds=kinds)
    assert progress.eta() is None and progress.pending == 5
    progress.ended("a1", {"status": "finished", "seconds": 10.0, "recall@20": 0.25})
    progress.ended("b1", {"status": "failed", "seconds": 2.0, "error": "NonFiniteLoss: loss is nan"})
    # left: a2 (multvae, 10 s) + b2, b3 (lightgcn, 2 s each), two at a time
    assert progress.eta() == (10.0 + 2.0 + 2.0) / 2
    assert (progress.done, progress.failed, progress.pending) == (1, 1, 3)
    lines = stream.getvalue().splitlines()
    assert "done 1/5  running 0  failed 0  pending 4" in lines[0] and "test recall@20 0.2500" in lines[0]
    assert "failed 1  pending 3" in lines[1] and "FAILED b1" in lines[1] and "loss is nan" in lines[1]


def test_eta_without_kinds_uses_the_overall_mean():
    progress = Progress(4, {t: t for t in "wxyz"}, parallel=1, stream=io.StringIO())
    progress.ended("w", {"status": "finished", "seconds": 3.0})
    assert progress.eta() == 3.0 * 3


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def event(epoch: int, epochs: int = 20, elapsed: float | None = None, stop_by: int | None = None,
          valid: float | None = None, best: float | None = None, best_epoch: int | None = None) -> EpochEvent:
    return EpochEvent(epoch=epoch, epochs=epochs, loss=100.0 / epoch, seconds=1.0,
                      elapsed=float(epoch) if elapsed is None else elapsed, metric="recall@20", valid=valid,
                      best=best, best_epoch=best_epoch, stop_by=epochs if stop_by is None else stop_by)


def test_an_epoch_line_says_loss_validation_best_speed_and_eta():
    line = epoch_detail(event(6, epochs=300, elapsed=9.0, stop_by=12, valid=0.2, best=0.25, best_epoch=3), 0.2)
    # 1.5 s/epoch: 6 epochs to the early stop (9 s), 294 to the last epoch (441 s)
    assert line == ("epoch 6/300  loss 16.6667  recall@20 0.2000  best 0.2500 (epoch 3)  1.50 s/epoch  "
                    "ETA 0:09 (at most 7:21)")
    assert epoch_detail(event(1, epochs=4, elapsed=250.0), None) == \
        "epoch 1/4  loss 100.0000  recall@20 -  best -  250 s/epoch  ETA 12:30"


def test_plain_epoch_lines_are_throttled_per_trial():
    clock, stream = FakeClock(), io.StringIO()
    progress = Progress(2, {"a": "A", "b": "B"}, stream=stream, epoch_line_s=30.0, clock=clock, live=False)
    progress.started("a")
    progress.started("b")
    for now, trial_id, epoch in [(1, "a", 1), (2, "b", 1), (10, "a", 2), (30.9, "a", 3), (31, "a", 4),
                                 (32, "b", 2), (45, "a", 5), (61, "a", 6), (61.5, "b", 3)]:
        clock.now = now
        progress.epoch(trial_id, event(epoch))
    printed = [line.split("| epoch  ")[1].split("  loss")[0] for line in stream.getvalue().splitlines()
               if "| epoch  " in line]
    # each trial's first epoch at once, then at most one line per 30 s of that trial
    assert printed == ["A  epoch 1/20", "B  epoch 1/20", "A  epoch 4/20", "B  epoch 2/20", "A  epoch 6/20"]
    assert progress.latest["a"][0].epoch == 6 and progress.latest["b"][0].epoch == 3  # the ETA sees every epoch


def test_the_grid_eta_uses_running_trials_before_any_trial_ended():
    clock = FakeClock()
    progress = Progress(4, {t: t for t in "abcd"}, parallel=2, stream=io.StringIO(), clock=clock, live=False)
    progress.started("a")
    progress.started("b")
    assert progress.eta() is None
    clock.now = 10.0
    progress.epoch("a", event(5, epochs=20, elapsed=5.0))  # 1 s/epoch, 15 epochs left: 15 s; 25 s in all
    # c, d: 25 s each; a: 15 s left; b (no epoch yet): 25 s less its 10 s; two at a time
    assert progress.eta() == (25 + 25 + 15 + 15) / 2
    clock.now = 12.0
    assert progress.eta() == (25 + 25 + 13 + 13) / 2
    assert "ETA 0:38" in progress.line()


def test_a_terminal_redraws_the_running_trials_in_place(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # a line wider than the terminal is cut (a wrapped one breaks the redraw)
    clock, stream = FakeClock(), io.StringIO()
    progress = Progress(1, {"a": "A"}, stream=stream, clock=clock, live=True)
    progress.started("a")
    clock.now = 5.0
    progress.epoch("a", event(1, epochs=2, valid=0.5, best=0.5, best_epoch=1))
    progress.epoch("a", event(2, epochs=2))
    progress.ended("a", {"status": "finished", "seconds": 6.0})
    erase = "\x1b[2F\x1b[J"  # up to the block's first line (counts, then one line per running trial), clear
    chunks = stream.getvalue().split(erase)
    assert len(chunks) == 4  # started, two epochs, ended: each redraw erases the block drawn before
    assert chunks[1].splitlines()[1] == "  A  epoch 1/2  loss 100.0000  recall@20 0.5000  best 0.5000 (epoch 1)  " \
                                        "1.00 s/epoch  ETA 0:01"
    assert chunks[2].splitlines()[1].startswith("  A  epoch 2/2  loss 50.0000  recall@20 0.5000  best -")
    # the end: the done line, and no block left under it
    assert chunks[3].endswith("| done   A (6.0s)\n") and chunks[3].count("\n") == 1
