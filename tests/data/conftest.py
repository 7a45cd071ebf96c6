import pytest

from benchmark.data.__main__ import main


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    """A fresh, empty $DMREC_DATA for one test."""
    root = tmp_path / "data-root"
    monkeypatch.setenv("DMREC_DATA", str(root))
    return root


@pytest.fixture
def cli(capsys):
    """Run `python -m benchmark.data ARGS` in-process: (exit status, stdout, stderr)."""
    def run(*args):
        status = main([str(a) for a in args])
        captured = capsys.readouterr()
        return status, captured.out, captured.err
    return run
