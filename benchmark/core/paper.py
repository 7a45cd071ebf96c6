"""The paper's facts: its datasets, the rule that maps a dataset name to one of them, and its
published numbers (`paper_tables.csv`, the one copy: Tables 1-3 as the paper prints them)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

PAPER_DATASETS = ("amazon", "yelp", "steam")
PAPER_CSV = Path(__file__).with_name("paper_tables.csv")
PAPER_CSV_COLUMNS = {"table", "base", "variant", "dataset", "metric", "value"}
TABLE1_COUNTS = ("n_users", "n_items", "n_interactions", "sparsity")


def paper_dataset(dataset: str) -> str | None:
    """The paper dataset a dataset name stands for ("amazon-standin" -> "amazon"), else None."""
    head = dataset.split("-", 1)[0].lower()
    return head if head in PAPER_DATASETS else None


@lru_cache(maxsize=1)
def paper_csv() -> pd.DataFrame:
    """Every published number, one row per cell (columns PAPER_CSV_COLUMNS)."""
    frame = pd.read_csv(PAPER_CSV, keep_default_na=False)
    if not PAPER_CSV_COLUMNS <= set(frame.columns):
        raise ValueError(f"{PAPER_CSV}: expected columns {sorted(PAPER_CSV_COLUMNS)}, found {list(frame.columns)}")
    return frame


def table1_counts() -> dict[str, dict]:
    """The paper's Table 1 per dataset: {"amazon": {"label": "Amazon-Book", "n_users": 11000, "n_items": ...,
    "n_interactions": ..., "sparsity": 0.998}, ...}; counts are ints, sparsity a fraction."""
    counts: dict[str, dict] = {}
    frame = paper_csv()
    for row in frame[frame["table"] == "table1"].itertuples(index=False):
        entry = counts.setdefault(row.dataset, {"label": row.base})
        value = float(row.value)
        entry[row.metric] = value if row.metric == "sparsity" else int(value)
    return counts
