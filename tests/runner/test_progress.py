"""The progress lines: counts and an ETA from the average time of each kind of trial."""
import io

from benchmark.runner.progress import Progress


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
