"""The CSV's rows grouped per (base, dataset) cell, and how a cell's numbers are written."""
from __future__ import annotations

import pandas as pd


def per_seed_values(row: dict) -> dict[int, float]:
    return {int(seed): float(value) for seed, value in (item.split(":") for item in row["per_seed"].split())}


def seeds_text(seeds) -> str:
    seeds = sorted(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def md(text: str) -> str:
    return text.replace("|", "\\|")


def ours_text(row: dict) -> str:
    std = f" ± {float(row['ours_std']):.4f}" if row["ours_std"] else ""
    return f"{float(row['ours_mean']):.4f}{std}"


def rel_text(row: dict) -> str:
    return f"{float(row['rel_diff']):+.1%}" if row["rel_diff"] else "–"


def mark(row: dict) -> str:
    return {"True": "✓", "False": "✗"}.get(row["within_3pct"], "")


def cells_of(status: pd.DataFrame) -> dict[tuple[str, str], dict[str, dict[str, dict]]]:
    """(base, dataset) -> settings -> metric -> row, in the CSV's order."""
    cells: dict[tuple[str, str], dict[str, dict[str, dict]]] = {}
    for row in status.to_dict("records"):
        cells.setdefault((row["base"], row["dataset"]), {}).setdefault(row["settings"], {})[row["metric"]] = row
    return cells


def paper_settings_of(settings: dict[str, dict[str, dict]]) -> str:
    return next((s for s, by_metric in settings.items() if any(r["paper_grid_settings"] == "True"
                                                                  for r in by_metric.values())), "")

