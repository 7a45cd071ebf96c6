"""Table 1: statistics of the prepared datasets a grid used, with the paper's where it has them."""
from __future__ import annotations

import math

import pandas as pd

from benchmark.analysis.records import GridResults
from benchmark.analysis.rendering import Cell, Table
from benchmark.core.paper import table1_counts

COLUMNS = ("n_users", "n_items", "n_interactions", "sparsity", "n_train", "n_valid", "n_test", "text_dim", "encoder")
HEADERS = ("Dataset", "Source", "Users", "Items", "Interactions", "Sparsity", "Train", "Valid", "Test",
           "Text dim", "Encoder")


def _encoder(meta: dict) -> str:
    for key in ("text_encoder", "encoder"):
        value = meta.get(key)
        if isinstance(value, dict):
            value = value.get("name") or value.get("model")
        if value:
            return str(value)
    return "–"


def _fmt(column: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if column == "sparsity":
        return f"{100 * float(value):.2f}%"
    if isinstance(value, (int, float)) and column != "text_dim":
        return f"{int(value):,}"
    return str(value)


def dataset_table(datasets: list[str], used_versions: dict[str, set] | None = None,
                  title: str = "Table 1") -> Table:
    """Table 1 of the prepared datasets `datasets`, with the paper's row under each dataset it has.

    The one rendering of dataset statistics: `python -m benchmark.data stats` may print
    `rendering.to_markdown(dataset_table(names))`. `used_versions`: dataset -> the versions the
    trials used; a prepared copy of another version gets a note."""
    from benchmark.core.errors import DataError
    from benchmark.data.layout import read_meta

    published = table1_counts()
    rows, tidy, notes = [], [], []
    for dataset in datasets:
        try:
            meta = read_meta(dataset)
        except DataError as error:
            notes.append(f"{dataset}: {error}")
            continue
        versions = (used_versions or {}).get(dataset)
        if versions is not None and meta.get("version") not in versions:
            notes.append(f"{dataset}: the prepared copy (version {meta.get('version')}) differs from the one the "
                         f"trials used ({', '.join(sorted(map(str, versions)))})")
        values = {c: meta.get(c) for c in COLUMNS}
        values["encoder"] = _encoder(meta)
        rows.append([Cell(dataset), Cell("prepared")] + [Cell(_fmt(c, values[c])) for c in COLUMNS])
        tidy.append({"dataset": dataset, "source": "prepared", **values})
        if dataset in published:
            paper = {k: v for k, v in published[dataset].items() if k != "label"}
            rows.append([Cell(dataset), Cell("paper")] + [Cell(_fmt(c, paper.get(c))) for c in COLUMNS])
            tidy.append({"dataset": dataset, "source": "paper", **paper})
    caption = (f"{title}: statistics of the prepared datasets (users, items, "
               f"interactions over all splits, sparsity = 1 - interactions / (users x items), split sizes, text "
               f"vector size and encoder); 'paper' rows are the published statistics.")
    return Table("table1", caption, [("", h) for h in HEADERS], rows,
                 pd.DataFrame(tidy, columns=["dataset", "source", *COLUMNS]), notes)


def table1(results: GridResults) -> Table:
    """Table 1 of the datasets a grid's trials used (each dataset's prepared meta.json)."""
    used: dict[str, set] = {}
    for record in results.records.values():
        used.setdefault((record.get("config") or {}).get("dataset"), set()).add(record.get("dataset_version"))
    table = dataset_table(results.datasets, used, f"Table 1 (grid {results.grid})")
    return table
