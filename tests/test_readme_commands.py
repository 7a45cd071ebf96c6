"""Every command in the README and the docs runs as written, or is explicitly listed as not cheap.

The fenced `bash` blocks of README.md and docs/**/*.md (a `--8<-- "file"` line includes that
file, as the docs site does) are split into commands. A command is either *cheap*, and then runs
literally in a scratch copy of the repository with the data and results roots in a temporary
folder, and must exit 0; or it starts with a prefix of NOT_CHEAP (minutes of training, a
download, a cluster), and is only listed. A command that is neither fails the test, so a new
command in the docs cannot escape it.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC_FILES = [REPO / "README.md", *sorted(p for p in (REPO / "docs").rglob("*.md") if "measurements" not in p.parts)]

# Commands that run here, in this order of phases: data first (the smoke grid needs `tiny`), then
# the runner, then the analysis, then everything else. A pattern is a regex searched in the
# command with its `python -m benchmark.X` / `dmrec-bench X` spelled as `benchmark.X`.
CHEAP = (
    (0, r"^benchmark\.data (list|stats)\b"),
    (0, r"^benchmark\.data prepare tiny\b"),
    (0, r"^cp benchmark/grids/smoke\.yaml smoke-copy\.yaml$"),  # a grid under another name (docs: reuse)
    (1, r"^benchmark\.run .*--grid smoke\b"),
    (2, r"^benchmark\.analysis .*--grid smoke\b"),
    (3, r"(^| )(--help|-h|--version)( |$)"),
    (3, r"^benchmark\.run .*--dry-run\b"),
    (3, r"^benchmark\.models list\b"),
    (3, r"^benchmark\.analysis\.reproducibility --check\b"),
)
# Commands that are documented but not run here, by prefix (after the same normalisation).
NOT_CHEAP = (
    "./run_all.sh",                     # set-up, the 20-minute default grid, or the whole test suite
    "pip install", "python -m pip install", ".venv/bin/python -m pip install",  # installs
    "python3 -m venv", 'echo "torch==2.13.0" > .venv/constraints.txt',  # the set-up, step by step
    "git clone", "cd ", "set -euo pipefail",   # (the last: the SLURM script's preamble)
    "ray start", "sbatch", "srun", "export ",
    "benchmark.data fetch",            # downloads
    "benchmark.data prepare",          # any dataset but `tiny` (embeds, or needs a source folder)
    "benchmark.run",                   # any grid but `smoke`, without --dry-run: hours of training
    "benchmark.analysis",              # on grids this test does not run
    "benchmark.perf",                  # minutes of timing
    "benchmark.tune",                  # minutes of searching (tests/tuning runs it on tiny data)
    "benchmark.analysis.reproducibility",  # rewrites README.md (its --check form runs)
    "mkdocs build", "mkdocs serve",    # tests/test_docs.py builds the site
    "OUT=",                            # benchmark/gpu_measure.sh: minutes on a GPU machine
    "for i in",                        # several runners of one grid: hours of training
)


def _expand_snippets(text: str, base: Path) -> str:
    """`--8<-- "path"` lines replaced by that file, as pymdownx.snippets does (paths from the repo root)."""
    def include(match: re.Match) -> str:
        path = REPO / match.group(1)
        return path.read_text() if path.is_file() else match.group(0)
    return re.sub(r'^\s*--8<--\s+"([^"]+)"\s*$', include, text, flags=re.M)


def bash_blocks(path: Path) -> list[str]:
    text = _expand_snippets(path.read_text(), path.parent)
    return re.findall(r"^```bash[^\n]*\n(.*?)^```", text, flags=re.M | re.S)


def commands_of(block: str) -> list[str]:
    """One string per command: comments dropped, `\\` continuations joined."""
    commands, current = [], ""
    for raw in block.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        line = re.sub(r"\s+#.*$", "", line)  # trailing comment (the docs never put `#` inside a value)
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            commands.append(" ".join(current.split()))
        current = ""
    return commands


def normalised(command: str) -> str:
    """`python -m benchmark.X ...` and `dmrec-bench X ...` both as `benchmark.X ...`."""
    command = re.sub(r"^(\.venv/bin/)?python3? -m (benchmark\S*)", r"\2", command)
    return re.sub(r"^dmrec-bench (\w+)", r"benchmark.\1", command)


def classify(command: str) -> tuple[str, int]:
    """("run", phase) for a cheap command, ("skip", 0) for a listed one, ("unlisted", 0) otherwise."""
    norm = normalised(command)
    for phase, pattern in CHEAP:
        if re.search(pattern, norm):
            return "run", phase
    if any(norm.startswith(prefix) for prefix in NOT_CHEAP):
        return "skip", 0
    return "unlisted", 0


def documented_commands() -> list[tuple[str, str]]:
    found = []
    for path in DOC_FILES:
        for block in bash_blocks(path):
            for command in commands_of(block):
                found.append((str(path.relative_to(REPO)), command))
    return found


def cheap_commands() -> list[tuple[str, str]]:
    """(where, command) of each distinct cheap command, in phase order, then order of first appearance."""
    places: dict[str, list[str]] = {}
    for where, command in documented_commands():
        if classify(command)[0] == "run" and where not in places.setdefault(command, []):
            places[command].append(where)
    ordered = sorted(places, key=lambda c: (classify(c)[1], list(places).index(c)))
    return [(", ".join(places[c]), c) for c in ordered]


def test_the_parser_reads_blocks_as_a_shell_would():
    block = "# a comment\npython -m benchmark.run --grid smoke \\\n    --no-ray   # in process\n\nls\n"
    assert commands_of(block) == ["python -m benchmark.run --grid smoke --no-ray", "ls"]
    assert classify("dmrec-bench run --grid table2 --dry-run") == ("run", 3)
    assert classify("python -m benchmark.run --grid table2") == ("skip", 0)
    assert classify("rm -rf results") == ("unlisted", 0)


def test_docs_have_commands_and_each_is_run_or_listed():
    commands = documented_commands()
    assert len(commands) > 10, "found too few documented commands: is the block parser broken?"
    unlisted = [f"{where}: {command}" for where, command in commands if classify(command)[0] == "unlisted"]
    assert not unlisted, ("documented commands neither cheap (CHEAP) nor listed as not cheap (NOT_CHEAP):\n"
                          + "\n".join(unlisted))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """A copy of the working tree (tracked and unignored files), and empty data and results roots."""
    base = tmp_path_factory.mktemp("readme")
    copy = base / "repo"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    env = dict(os.environ, DMREC_DATA=str(base / "data"), DMREC_RESULTS=str(base / "results"),
               PYTHONPATH=str(copy), RAY_AUTH_MODE="disabled")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return copy, env


@pytest.mark.slow
@pytest.mark.parametrize(("where", "command"), cheap_commands(), ids=[c for _, c in cheap_commands()])
def test_cheap_documented_command_runs(scratch, where, command):
    copy, env = scratch
    argv = shlex.split(command)
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    if shutil.which(argv[0], path=env["PATH"]) is None:
        pytest.fail(f"{where}: `{command}`: {argv[0]} is not installed (pip install -e .)")
    done = subprocess.run(argv, cwd=copy, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (f"{where}: `{command}` exited {done.returncode}\n"
                                  f"stdout:\n{done.stdout[-2000:]}\nstderr:\n{done.stderr[-3000:]}")


def minute_commands() -> list[str]:
    """The README's "A minute, without training anything big" block."""
    text = (REPO / "README.md").read_text()
    section = text.split("## A minute, without training anything big", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"^```bash[^\n]*\n(.*?)^```", section, flags=re.M | re.S)
    return commands_of(block)


@pytest.mark.slow
def test_the_minute_commands_leave_a_clean_clone_clean(tmp_path):
    """A new user's first minute, with the default data and results roots inside the clone: the smoke
    grid's outputs are git-ignored, and no committed file (the default grid's reference outputs) changes."""
    copy = tmp_path / "clone"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
    git = ["git", "-c", "user.name=reader", "-c", "user.email=reader@example.org"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "the working tree"]):
        subprocess.run([*git, *step], cwd=copy, check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DMREC_DATA", "DMREC_RESULTS", "RAY_ADDRESS")}
    env.update(PYTHONPATH=str(copy), OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    commands = minute_commands()
    assert any("--grid smoke" in c and "benchmark.analysis" in c for c in commands), commands
    for command in commands:
        argv = shlex.split(command)
        argv[0] = sys.executable if argv[0] in ("python", "python3") else argv[0]
        done = subprocess.run(argv, cwd=copy, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"`{command}`:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    status = subprocess.run(["git", "status", "--porcelain"], cwd=copy, capture_output=True, text=True, check=True)
    assert status.stdout == "", status.stdout
    assert (copy / "results" / "smoke_report.md").is_file()
    assert (copy / "results" / "tables" / "smoke_results.md").is_file()
    assert list((copy / "figures").glob("smoke_*.png"))
