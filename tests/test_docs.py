"""The README and the docs site: short, built strictly, in sync with the stored results, dated.

`mkdocs build --strict` turns every warning into a failure; `mkdocs.yml` makes broken links and
anchors warnings (`validation:`), so a broken link or anchor fails here, which the second build
(with a planted broken anchor) shows.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.analysis import reproducibility
from benchmark.measurements import record_measurement, run_costs

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
MEASUREMENTS = DOCS / "measurements"
HEADER_FIELDS = ("date", "commit", "machine", "software", "command")


def mkdocs_build(root: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml"),
                           "-d", str(site)], cwd=root, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))


def test_readme_is_at_most_200_lines():
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines <= 200, f"README.md has {lines} lines; move detail into docs/"


def test_docs_site_builds_strictly(tmp_path):
    done = mkdocs_build(REPO, tmp_path / "site")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    # the snippets were included, not left as text: the latest perf table and the status table are on their pages
    performance = (tmp_path / "site" / "performance" / "index.html").read_text()
    assert "--8&lt;--" not in performance and "--8<--" not in performance
    assert "DMRec-M" in performance
    status = (tmp_path / "site" / "reproducibility" / "index.html").read_text()
    assert "Mult-VAE" in status and "CVGA" in status
    # the committed reference figures are served
    assert (tmp_path / "site" / "figures" / "default_fig2_convergence.png").is_file()


@pytest.mark.parametrize("broken", ["[x](datasets.md#no-such-heading)", "[x](no-such-page.md)"])
def test_strict_build_fails_on_a_broken_anchor_or_link(tmp_path, broken):
    root = tmp_path / "repo"
    for name in ("docs", "figures"):
        shutil.copytree(REPO / name, root / name)
    for name in ("mkdocs.yml", "README.md"):
        shutil.copy2(REPO / name, root / name)
    (root / "docs" / "index.md").write_text((root / "docs" / "index.md").read_text() + f"\n{broken}\n")
    done = mkdocs_build(root, tmp_path / "site")
    assert done.returncode != 0, f"a page linking {broken} built under --strict"


def _slug(heading: str) -> str:
    """The anchor of a Markdown heading, as MkDocs' toc and GitHub both spell simple headings."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"\s+", "-", re.sub(r"[^\w\s-]", "", text)).strip("-")


def test_readme_links_point_at_existing_files_and_headings():
    """The README is not part of the site, so its links are checked here."""
    readme = (REPO / "README.md").read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", readme):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        assert (REPO / path).exists(), f"README.md links to {path}, which does not exist"
        if anchor:
            headings = re.findall(r"^#+\s+(.*)$", (REPO / path).read_text(), flags=re.M)
            assert anchor in {_slug(h) for h in headings}, f"README.md links to {target}: no such heading"


def test_every_code_fence_is_closed():
    """An unclosed fence swallows the rest of a page silently (mkdocs does not warn)."""
    for path in [REPO / "README.md", *DOCS.rglob("*.md")]:
        fences = [line for line in path.read_text().splitlines() if line.lstrip().startswith("```")]
        assert len(fences) % 2 == 0, f"{path.relative_to(REPO)}: {len(fences)} fence lines, one is not closed"


def test_readme_status_block_matches_the_committed_csv():
    expected = reproducibility.render_block(reproducibility.read_status())
    actual = reproducibility.current_block((REPO / "README.md").read_text())
    assert actual == expected, "README status block is stale: run python -m benchmark.analysis.reproducibility"


def test_status_csv_has_every_table2_base_and_paper_dataset():
    status = reproducibility.read_status()
    assert list(status.columns) == list(reproducibility.COLUMNS)
    assert set(zip(status.base, status.dataset, strict=True)) == {(b, d) for b in reproducibility.BASES.values()
                                                     for d in reproducibility.DATASETS}
    for row in status.to_dict("records"):
        assert float(row["paper"]) == reproducibility.paper_value(row["base"], row["dataset"], row["metric"])


def test_no_page_tells_how_the_project_was_developed():
    pages = [REPO / "README.md", *DOCS.rglob("*.md")]
    notebook = re.compile(r"earlier session|this session|in the session|no session|development machine", re.I)
    hits = [f"{p.relative_to(REPO)}: {m.group(0)}" for p in pages for m in notebook.finditer(p.read_text())]
    assert not hits, "lab-notebook prose (use a date and a commit instead):\n" + "\n".join(hits)


def test_every_measurement_file_says_when_where_and_how():
    files = sorted(MEASUREMENTS.rglob("*.md"))
    assert files, "no measurement files"
    for path in files:
        head = path.read_text().split("\n\n", 1)[0]
        for field in HEADER_FIELDS:
            assert f"- **{field}**:" in head, f"{path.relative_to(REPO)}: header lacks {field}"
        assert re.search(r"\*\*date\*\*: \d{4}-\d{2}-\d{2}", head) and re.search(r"\*\*commit\*\*: `[0-9a-f]{7}", head)


def test_every_latest_measurement_is_included_in_a_page():
    pages = "".join(p.read_text() for p in DOCS.glob("*.md"))
    for latest in MEASUREMENTS.glob("*.md"):
        assert f'--8<-- "docs/measurements/{latest.name}"' in pages, f"{latest.name} is on no page"


def test_gpu_section_says_not_measured_unless_a_gpu_measurement_exists():
    page = (DOCS / "performance.md").read_text()
    if (MEASUREMENTS / "perf-cuda.md").exists():  # written by `python -m benchmark.perf --device cuda --record`
        assert '--8<-- "docs/measurements/perf-cuda.md"' in page
    else:
        assert "Not measured: no GPU was available" in page


def test_record_measurement_writes_latest_and_dated_history(tmp_path):
    command = ["python", "-m", "benchmark.perf", "--repeats", "1"]
    history = record_measurement("perf-cpu", command, "| model | s |\n|---|---|\n| Mult-VAE | 1.0 |", root=tmp_path)
    latest = tmp_path / "perf-cpu.md"
    assert history.parent == tmp_path / "perf-cpu" and re.fullmatch(r"\d{4}-\d{2}-\d{2}-[0-9a-f]{7}(-dirty)?\.md",
                                                                 history.name)
    assert latest.read_text() == history.read_text()
    text = latest.read_text()
    for field in HEADER_FIELDS:
        assert f"- **{field}**:" in text
    assert "`python -m benchmark.perf --repeats 1`" in text and text.rstrip().endswith("| Mult-VAE | 1.0 |")
    with pytest.raises(ValueError):
        record_measurement("../escape", command, "x", root=tmp_path)


def test_run_costs_reads_wall_time_and_per_model_costs_from_the_records():
    def record(model, matcher, ended, seconds, epochs):
        return {"config": {"model": model, "matcher": matcher}, "finished_at": ended,
                "timings": {"total_s": seconds}, "epochs_run": epochs}

    records = [record("multvae", "none", "2026-01-01T00:01:00+00:00", 60.0, 100),  # ran 00:00:00-00:01:00
               record("multvae", "none", "2026-01-01T00:02:30+00:00", 40.0, 80),
               record("lightgcn", None, "2026-01-01T00:05:00+00:00", 30.0, 21)]  # ended last: wall 5 min
    text = run_costs(records, failed=1)
    assert text.startswith("3 finished trials, 1 failed; wall time from the first trial's start to the last "
                           "one's end **5.0 min**; the trials add up to 130 s of trial time.")
    assert "| multvae | none | 2 | 50 | 80-100 |" in text and "| lightgcn | none | 1 | 30 | 21 |" in text
    with pytest.raises(ValueError):
        run_costs([])


def test_slurm_script_is_a_complete_array_job_over_eight_shards():
    script = (DOCS / "slurm" / "table2.sbatch").read_text()
    assert script.startswith("#!/usr/bin/env bash") and "#SBATCH --array=1-8" in script
    command = script.replace('"', "").replace("\\\n", " ")
    assert re.search(r"python -m benchmark\.run --grid table2 --shard \$SLURM_ARRAY_TASK_ID/8", command)
    assert subprocess.run(["bash", "-n", str(DOCS / "slurm" / "table2.sbatch")]).returncode == 0


def _install_steps(text: str) -> list[str]:
    """pip install commands with run_all.sh's variables spelled out, quotes and -q dropped."""
    names = {"$PY": ".venv/bin/python", "$TORCH_PIN": "torch==2.13.0", "$RECBOLE_PIN": "recbole==1.2.1",
             "$constraints": ".venv/constraints.txt"}
    steps = []
    for line in text.splitlines():
        line = re.sub(r"\s+#.*$", "", line.strip())
        if "-m pip install" not in line:
            continue
        for name, value in names.items():
            line = line.replace(f'"{name}"', value).replace(name, value)
        steps.append(" ".join(word for word in line.replace('"', "").split() if word != "-q"))
    return steps


def test_getting_started_lists_exactly_what_run_all_sh_installs():
    script = _install_steps((REPO / "run_all.sh").read_text())
    page = _install_steps((DOCS / "getting-started.md").read_text())
    assert script and all(step in page for step in script), f"run_all.sh installs {script}; the page says {page}"


def test_ruff_is_configured_and_runs_before_pytest_in_the_test_command():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    selected = set(pyproject["tool"]["ruff"]["lint"]["select"])
    assert {"E", "F", "W", "I", "B", "UP", "RUF"} <= selected
    assert any(dep.startswith("ruff") for dep in pyproject["project"]["optional-dependencies"]["test"])
    assert any(dep.startswith("mkdocs") for dep in pyproject["project"]["optional-dependencies"]["docs"])
    script = (REPO / "run_all.sh").read_text()
    test_branch = script[script.index("    test)"):script.index(";;", script.index("    test)"))]
    assert test_branch.index("ruff\" check .") < test_branch.index("-m pytest")
    assert '-e ".[test,docs]"' in script
    assert (REPO / ".ci" / "run").read_text().strip().endswith("./run_all.sh test")


def test_no_page_quotes_a_machine_s_own_paths():
    """Commands a reader copies are repo-relative: no measuring machine's checkout or scratch folder."""
    machine_paths = re.compile(r"(?<![\w.])/(work|home|root|Users|tmp/fresh)/")
    found = [f"{page.relative_to(REPO)}:{n}: {line.strip()}"
             for page in [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]
             for n, line in enumerate(page.read_text().splitlines(), 1) if machine_paths.search(line)]
    assert not found, "\n".join(found)
