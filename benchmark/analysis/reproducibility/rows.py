"""Stored records -> the CSV's rows: the plain bases on the paper's datasets, one row per (base,
dataset, settings, metric), the newest dataset version and the newest record per seed."""
from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd

from benchmark.analysis.reproducibility.facts import (
    BASES,
    COLUMNS,
    CSV_PATH,
    DATASETS,
    GRIDS,
    METRICS,
    TOLERANCE,
    paper_value,
)
from benchmark.analysis.reproducibility.settings import describe_settings, paper_grid_settings
from benchmark.analysis.stats import seed_mean_std
from benchmark.core.atomic import atomic_write
from benchmark.core.paths import results_root
from benchmark.runner.store import ResultStore


def _commit(record: dict) -> str:
    """The short commit a record's trial ran at (with "+dirty" when its code was edited)."""
    provenance = record.get("provenance") or {}
    commit = str(provenance.get("commit") or "unknown")
    return commit[:7] + ("+dirty" if provenance.get("dirty") else "")


def _device(record: dict) -> str:
    return str((record.get("env") or {}).get("device") or "unknown")


def _number(value: float, digits: int) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _metric_row(base: str, dataset: str, settings: str, is_paper: bool, metric: str, records: list[dict],
                grids: set[str]) -> dict:
    """One CSV row: the records (one per seed, same settings) at one metric; `grids`: every grid that stored one."""
    per_seed = {r["config"]["seed"]: float(r["metrics"]["test"][metric]) for r in records
                if isinstance((r.get("metrics") or {}).get("test", {}).get(metric), (int, float))}
    mean, std, n = seed_mean_std(list(per_seed.values()))
    paper = paper_value(BASES[base], dataset, metric)
    rel = (mean - paper) / paper if paper and n else math.nan
    return {"base": BASES[base], "dataset": dataset, "settings": settings, "paper_grid_settings": str(is_paper),
            "metric": metric, "ours_mean": _number(mean, 6), "ours_std": _number(std, 6), "n_seeds": str(n),
            "per_seed": " ".join(f"{seed}:{value:.6f}" for seed, value in sorted(per_seed.items())),
            "paper": "" if paper is None else repr(paper), "rel_diff": _number(rel, 6),
            "within_3pct": "" if math.isnan(rel) else str(abs(rel) <= TOLERANCE),
            "grid": " ".join([*(g for g in GRIDS if g in grids), *sorted(grids - set(GRIDS))]),
            "commit": " ".join(sorted({_commit(r) for r in records})),
            "date": max((str(r.get("finished_at", "")) for r in records), default="")[:10],
            "device": "; ".join(sorted({_device(r) for r in records}))}


def rows_from_records(records: list[dict]) -> tuple[pd.DataFrame, list[str]]:
    """The CSV's rows from finished records of any grid, and notes on what was left out.

    Per dataset only the newest dataset version counts (settings are compared on the same data);
    per (settings, seed) the newest record counts (a rerun, or the same trial in two grids)."""
    notes: list[str] = []
    bases = [r for r in records if isinstance(r.get("config"), dict) and r["config"].get("model") in BASES
             and r["config"].get("dataset") in DATASETS and r["config"].get("matcher", "none") in ("none", None)
             and isinstance(r["config"].get("seed"), int)]
    newest = sorted(bases, key=lambda r: str(r.get("finished_at", "")))
    version = {r["config"]["dataset"]: r.get("dataset_version") for r in newest}
    groups: dict[tuple[str, str, str], dict] = {}
    grids: dict[tuple[str, str, str], set[str]] = {}
    for record in newest:
        config = record["config"]
        if record.get("dataset_version") != version[config["dataset"]]:
            notes.append(f"{record.get('grid')}/{record.get('trial_id')}: dataset version "
                         f"{record.get('dataset_version')}, not the newest {version[config['dataset']]}; left out")
            continue
        key = (config["model"], config["dataset"], describe_settings(config, record["defaults"]))
        replaced = groups.setdefault(key, {}).get(config["seed"])
        if replaced is not None:
            notes.append(f"{replaced.get('grid')}/{replaced.get('trial_id')}: the same settings and seed as the newer "
                         f"{record.get('grid')}/{record.get('trial_id')}; left out")
        groups[key][config["seed"]] = record
        grids.setdefault(key, set()).update([str(record["grid"])] if record.get("grid") else [])
    rows = []
    for base in BASES:
        for dataset in DATASETS:
            paper_settings = paper_grid_settings(base, dataset)
            ran = sorted(settings for (b, d, settings) in groups if (b, d) == (base, dataset))
            for settings in [paper_settings, *(s for s in ran if s != paper_settings)]:
                chosen = list(groups.get((base, dataset, settings), {}).values())
                rows += [_metric_row(base, dataset, settings, settings == paper_settings, metric, chosen,
                                     grids.get((base, dataset, settings), set())) for metric in METRICS]
    return _as_text(pd.DataFrame(rows, columns=list(COLUMNS))), notes


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` as the CSV reads back (all text), so a page from the store and one from the CSV are one."""
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)), dtype=str, keep_default_na=False)


def status_from_store(root: Path | None = None) -> tuple[pd.DataFrame, list[str]] | None:
    """The CSV's rows from the stored grids (`GRIDS`), or None when neither is stored under `root`."""
    stores = [ResultStore(grid, root if root is not None else results_root()) for grid in GRIDS]
    stores = [store for store in stores if store.trials_dir.is_dir()]
    if not stores:
        return None
    return rows_from_records([record for store in stores for record in store.records()])


def read_status(path: Path = CSV_PATH) -> pd.DataFrame:
    """The committed CSV, all text; ValueError naming the file when its columns are not `COLUMNS`."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(frame.columns) != list(COLUMNS):
        raise ValueError(f"{path}: expected columns {', '.join(COLUMNS)}; found {', '.join(frame.columns)}")
    return frame


def write_status(frame: pd.DataFrame, path: Path = CSV_PATH) -> None:
    """Write the CSV atomically: a killed run leaves the old file or the new one, never half of one."""
    atomic_write(path, frame.to_csv(index=False))
