"""The facts the reproducibility page compares against: the paper's Table 2 bases, its datasets and
values, the tolerance, and the CSV's columns and the files the blocks live in."""
from __future__ import annotations

from baselines.registry import get_spec, models_with_role
from benchmark.analysis.paper import WITHIN_PCT, published
from benchmark.core.paper import PAPER_DATASETS
from benchmark.core.paths import REPO_ROOT

PAPER_GRID = "table2"
GRIDS = (PAPER_GRID, "fidelity")  # the paper grid first: it names the settings the status shows
METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")
METRIC_LABELS = {"recall@10": "Recall@10", "recall@20": "Recall@20", "ndcg@10": "NDCG@10", "ndcg@20": "NDCG@20"}
# registry name -> the paper's name, for the generative bases the paper's Table 2 has
BASES = {name: get_spec(name).paper_name for name in models_with_role("generative_base") if get_spec(name).paper_name}
DATASETS = PAPER_DATASETS
TOLERANCE = WITHIN_PCT / 100  # relative difference counted as "reproduced"
SEEDS_TO_DECIDE = 3  # a cell is called reached or not on the mean of this many seeds, no fewer
CSV_PATH = REPO_ROOT / "results" / "reproducibility.csv"
README_PATH = REPO_ROOT / "README.md"
PAGE_PATH = REPO_ROOT / "docs" / "reproducibility.md"
BEGIN, END = "<!-- status:begin -->", "<!-- status:end -->"
SCREENING_BEGIN, SCREENING_END = "<!-- screening:begin -->", "<!-- screening:end -->"
COLUMNS = ("base", "dataset", "settings", "paper_grid_settings", "metric", "ours_mean", "ours_std", "n_seeds",
           "per_seed", "paper", "rel_diff", "within_3pct", "grid", "commit", "date", "device")


def paper_value(base: str, dataset: str, metric: str) -> float | None:
    """The paper's Table 2 value of a plain base (its paper name, e.g. "L-DiffRec"), or None."""
    model = {name: key for key, name in BASES.items()}.get(base, base)
    table = published()
    hit = table[(table.table == "table2") & (table.model == model) & (table.matcher == "none")
                & (table.dataset == dataset) & (table.metric == metric)]
    return float(hit.paper.iloc[0]) if len(hit) else None
