"""The docs' "Add a model" recipe, followed literally in a scratch copy of the code: the folder (model
and yaml, no `__init__.py`, as the recipe says), the one registration line in `baselines/registry.py`,
the model's name in a grid; then the suite's own commands run the grid and the analysis, and the
model is in the results table, in Table 3 as a row marked "not in the paper", and in the report.

The recipe's code blocks are read from the docs themselves (each starts with a comment naming the
file it belongs in), so the docs cannot drift from what works."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
RECIPE_PAGES = (REPO / "docs" / "contributing.md", REPO / "README.md")
MODEL_FILE = "baselines/text_lightgcn/text_lightgcn.py"
YAML_FILE = "baselines/text_lightgcn/text_lightgcn.yaml"
REGISTRY_FILE = "baselines/registry.py"
YOUR_MODELS = "# Your models: one register(...) line each, below this comment"
CODE = ("benchmark", "dmrec", "baselines")  # what the scratch copy needs to run a grid and the analysis


def recipe_blocks() -> dict[str, str]:
    """File named by a fenced block's first comment line -> the block's text, from the first page
    that has the recipe."""
    for page in RECIPE_PAGES:
        if not page.is_file():
            continue
        blocks = {}
        for body in re.findall(r"```(?:python|yaml)\n(.*?)```", page.read_text(), flags=re.S):
            first = body.splitlines()[0]
            match = re.match(r"#\s*(\S+?)(?::.*)?$", first)
            if match and match.group(1) in (MODEL_FILE, YAML_FILE, REGISTRY_FILE):
                blocks[match.group(1)] = body
        if len(blocks) == 3:
            return blocks
    pytest.fail(f"no page of {[str(p) for p in RECIPE_PAGES]} holds the recipe's three blocks "
                f"({MODEL_FILE}, {YAML_FILE}, {REGISTRY_FILE})")


def scratch_copy(target: Path) -> Path:
    """The working tree's code (tracked and untracked, not ignored) copied to `target`."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", *CODE], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    for relative in listed:
        source = REPO / relative
        if source.is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / relative)
    shutil.copy2(REPO / "pyproject.toml", target / "pyproject.toml")
    return target


def suite(clone: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=clone, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_recipe_reaches_the_results_table_table3_and_the_report(data_root, tmp_path):
    blocks = recipe_blocks()
    clone = scratch_copy(tmp_path / "clone")
    # step 1: one folder, model + yaml (the recipe names no __init__.py, so none is written)
    (clone / MODEL_FILE).parent.mkdir(parents=True)
    (clone / MODEL_FILE).write_text(blocks[MODEL_FILE])
    (clone / YAML_FILE).write_text(blocks[YAML_FILE])
    # step 2: the one registration line, where baselines/registry.py asks for it
    registry = clone / REGISTRY_FILE
    source = registry.read_text()
    assert YOUR_MODELS in source, f"{REGISTRY_FILE} lost its '{YOUR_MODELS}' comment"
    at = source.index("\n", source.index(YOUR_MODELS)) + 1  # just below the comment's line
    registry.write_text(source[:at] + blocks[REGISTRY_FILE] + source[at:])
    # step 3: its name in a grid's models (beside DMRec-M and LightGCN, so Table 3 has its inputs)
    grid = tmp_path / "mine.yaml"
    grid.write_text("datasets: [tiny]\nmodels: [multvae, lightgcn, text_lightgcn]\nmatchers: [mddm]\nseeds: 1\n"
                    "params: {epochs: 4, eval_step: 2, stopping_step: 2}\n")
    results = tmp_path / "results"
    env = {**os.environ, "DMREC_DATA": str(data_root), "DMREC_RESULTS": str(results), "OMP_NUM_THREADS": "1",
           "MPLBACKEND": "Agg", "PYTHONPATH": str(clone)}

    listed = suite(clone, env, "benchmark.models", "list")
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^text_lightgcn\s+user\s+Text-LightGCN\s", listed.stdout, flags=re.M), listed.stdout

    ran = suite(clone, env, "benchmark.run", "--grid", str(grid), "--no-ray")
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    analysed = suite(clone, env, "benchmark.analysis", "--grid", "mine", "--reference", "lightgcn")
    assert analysed.returncode == 0, analysed.stdout[-3000:] + analysed.stderr[-3000:]

    tables = results / "tables"
    table = pd.read_csv(tables / "mine_results.csv")
    assert set(table["model"]) == {"multvae", "lightgcn", "text_lightgcn"}
    mine = table[(table["model"] == "text_lightgcn") & (table["metric"] == "recall@20")].iloc[0]
    assert mine["model_label"] == "Text-LightGCN" and mine["n_seeds"] == 1 and 0 <= mine["mean"] <= 1
    assert "Text-LightGCN" in (tables / "mine_results.md").read_text()

    table3 = pd.read_csv(tables / "mine_table3.csv")
    assert "text_lightgcn" in set(table3["model"])
    assert "Text-LightGCN (not in the paper)" in (tables / "mine_table3.md").read_text()

    report = (results / "mine_report.md").read_text()
    assert report.index("### Results") < report.index("Text-LightGCN")
    assert "Text-LightGCN (not in the paper)" in report
    assert "Table 2: skipped." in report  # no plain Mult-VAE in this grid: one line, not an empty table

    # the recipe's `search:` section is what `benchmark.tune` samples (Ray Tune, a budget of one)
    tuned = suite(clone, {k: v for k, v in env.items() if k != "RAY_ADDRESS"}, "benchmark.tune", "--grid", str(grid),
                  "--models", "text_lightgcn", "--budget", "1", "--search-only")
    assert tuned.returncode == 0, tuned.stdout[-3000:] + tuned.stderr[-3000:]
    best = yaml.safe_load((results / "mine_tuned.yaml").read_text())
    assert "text_weight" in json.dumps(best) and "text_lightgcn" in json.dumps(best)
