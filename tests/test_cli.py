"""The `dmrec-bench` console script: one command per `python -m benchmark.*` module, the same options."""
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from benchmark.cli import COMMANDS, main
from benchmark.core.paths import REPO_ROOT

SCRIPT = Path(sys.executable).with_name("dmrec-bench")  # installed by `pip install -e .`
ENV = {**os.environ, "COLUMNS": "100"}  # argparse wraps help text to the terminal width


def call(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([*argv], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, env=ENV)


def python_m(module: str) -> str:
    return module.removesuffix(".__main__")  # `python -m benchmark.data` runs benchmark/data/__main__.py


def test_the_script_lists_its_commands_and_its_version():
    assert SCRIPT.exists(), f"{SCRIPT} is missing: run .venv/bin/pip install --no-deps -e ."
    shown = call(str(SCRIPT), "--help")
    assert shown.returncode == 0 and shown.stdout.startswith("usage: dmrec-bench")
    for name in COMMANDS:
        assert f"\n  {name} " in shown.stdout
    expected = f"dmrec-bench {metadata.version('dmrec-bench')}\n"
    assert call(str(SCRIPT), "--version").stdout == expected
    assert call(sys.executable, "-m", "benchmark", "--version").stdout == expected


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_command_is_its_module(command):
    """`dmrec-bench X --help` is `python -m benchmark.X --help`, up to the program name."""
    module = python_m(COMMANDS[command][0])
    script = call(str(SCRIPT), command, "--help")
    direct = call(sys.executable, "-m", module, "--help")
    assert script.returncode == 0 and direct.returncode == 0, script.stderr + direct.stderr
    assert script.stdout.startswith(f"usage: dmrec-bench {command} ")  # the program as it was called

    def words(text: str) -> str:  # line wrapping follows the program name's length
        return " ".join(text.replace(f"dmrec-bench {command}", "PROG").replace(f"python -m {module}", "PROG").split())
    assert words(script.stdout) == words(direct.stdout)


def test_an_unknown_command_suggests_the_closest(capsys):
    assert main(["rnu", "--grid", "smoke"]) == 2
    assert capsys.readouterr().err == "dmrec-bench: unknown command 'rnu'; did you mean 'run'?\n"
    assert main(["xyzzy"]) == 2
    assert capsys.readouterr().err == "dmrec-bench: unknown command 'xyzzy'; the commands are " \
                                      "run, data, analysis, models, perf, tune\n"
    assert main([]) == 2 and "required: COMMAND" in capsys.readouterr().err


def test_a_command_gets_its_arguments_and_its_exit_status(capsys, monkeypatch):
    from benchmark import models

    assert models.main(["list"]) == 0
    listed = capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["dmrec-bench", "models", "list"])
    assert main() == 0 and capsys.readouterr().out == listed
    assert main(["run", "--grid", "smoke", "--no-such-option"]) == 2
    err = capsys.readouterr().err
    assert "dmrec-bench run: error: unrecognized arguments: --no-such-option" in err
