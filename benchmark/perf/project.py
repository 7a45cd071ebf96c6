"""Stage `project`: a grid's wall time on one device, from per-epoch and per-evaluation seconds
measured on synthetic stand-ins of its datasets and the epochs its stored runs took."""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark.perf.clocks import device_name
from benchmark.perf.concurrent import best_speedup
from benchmark.perf.synthetic import write_stand_in
from benchmark.perf.table import Table
from benchmark.perf.variants import build_variant, matcher_label, timed_epoch, timed_evaluation

COLUMNS = ["dataset", "model", "variant", "trials", "epochs", "epochs_from", "epoch_s", "eval_s", "trial_s",
           "total_s", "timing_from"]


@dataclass(frozen=True)
class GridCell:
    """A (dataset, model, matcher) of a grid: how many trials it has, the config of its first."""

    dataset: str
    model: str
    matcher: str
    trials: int
    config: dict

    @property
    def key(self) -> tuple[str, str, str]:
        return self.dataset, self.model, self.matcher


def grid_cells(grid_name: str) -> list[GridCell]:
    """Every cell of the grid as the runner expands it (`benchmark.runner.grid.expand`), in its order;
    a dataset need not be prepared."""
    from benchmark.runner.grid import expand

    cells: dict[tuple[str, str, str], list] = {}
    for trial in expand(grid_name, allow_unprepared=True):
        cells.setdefault((trial.dataset, trial.model, trial.matcher), [0, trial.config])[0] += 1
    return [GridCell(*key, trials, config) for key, (trials, config) in cells.items()]


def stored_epochs(grid: str) -> dict[tuple[str, str, str], float]:
    """Mean epochs run per (dataset, model, matcher) over the grid's finished stored records."""
    from benchmark.runner.store import ResultStore

    runs: dict[tuple[str, str, str], list[int]] = {}
    try:
        records = ResultStore(grid).records()
    except Exception as error:  # noqa: BLE001 (a missing or unreadable store only means: no stored runs)
        print(f"perf: no stored runs of '{grid}' read ({type(error).__name__}: {error})", flush=True)
        return {}
    for record in records:
        config = record.get("config") or {}
        key = (config.get("dataset"), config.get("model"), config.get("matcher") or "none")
        if isinstance(record.get("epochs_run"), int):
            runs.setdefault(key, []).append(record["epochs_run"])
    return {key: statistics.mean(values) for key, values in runs.items()}


def measure_cells(args, cells: list[GridCell], device: torch.device, root: Path) -> tuple[dict, dict]:
    """({cell key: (epoch_s, eval_s, eval_step, first_eval_epoch)}, {dataset: its stand-in's shape}) for
    the cells measured before --time-limit. Base and DMRec-M come first for every (dataset, model):
    what the limit leaves out is then filled from DMRec-M, the closest in cost."""
    deadline = time.monotonic() + args.time_limit
    measured, shapes = {}, {}
    for cell in sorted(cells, key=lambda c: (c.matcher not in ("none", "mddm"), c.dataset, c.model, c.matcher)):
        if time.monotonic() > deadline:
            break
        if cell.dataset not in shapes:
            shape, where = write_stand_in(cell.dataset, args.shape, root / "prepared")
            shapes[cell.dataset] = (f"{where}: {shape['n_users']} users, {shape['n_items']} items, "
                                    f"{shape['n_interactions']} interactions")
        variant = build_variant(cell.config, device)
        timed_epoch(variant.trainer, variant.loader, 0, device)  # warm-up
        epochs = [timed_epoch(variant.trainer, variant.loader, i + 1, device) for i in range(args.repeats)]
        evaluation = timed_evaluation(variant.model, variant.valid, variant.recbole_config, device)
        config = variant.recbole_config
        measured[cell.key] = (statistics.median(epochs), evaluation, int(config["eval_step"]),
                              config["first_eval_epoch"])
        del variant
    return measured, shapes


def epochs_of(cell: GridCell, stored: dict, default: int) -> tuple[float, str]:
    """Epochs a trial of `cell` runs, and where that number comes from."""
    if cell.key in stored:
        return stored[cell.key], "stored runs"
    others = [v for k, v in stored.items() if k[1:] == cell.key[1:]]
    if others:
        return statistics.mean(others), "stored runs, other datasets"
    return float(default), "default"


def projection_row(cell: GridCell, measured: dict, stored: dict, default_epochs: int) -> dict:
    """One cell's row; its timing is NaN when neither it nor its DMRec-M was measured."""
    from benchmark.runner.training.trainer import validation_epochs

    timing, timing_from = measured.get(cell.key), "measured"
    if timing is None and (cell.dataset, cell.model, "mddm") in measured:
        timing, timing_from = measured[(cell.dataset, cell.model, "mddm")], "DMRec-M's (time limit)"
    epochs, epochs_from = epochs_of(cell, stored, default_epochs)
    row = {"dataset": cell.dataset, "model": cell.model, "variant": matcher_label(cell.matcher),
           "trials": cell.trials, "epochs": epochs, "epochs_from": epochs_from}
    if timing is None:
        return {**row, "epoch_s": math.nan, "eval_s": math.nan, "trial_s": math.nan, "total_s": math.nan,
                "timing_from": "not measured (time limit)"}
    epoch_s, eval_s, eval_step, first = timing
    evaluations = len(validation_epochs(round(epochs), eval_step, first)) + 1  # validations and the test
    trial_s = epochs * epoch_s + evaluations * eval_s
    return {**row, "epoch_s": epoch_s, "eval_s": eval_s, "trial_s": trial_s, "total_s": cell.trials * trial_s,
            "timing_from": timing_from}


def project_stage(args, device: torch.device, concurrency: Table | None, root: Path) -> Table:
    """Projected wall time of `--project` on one device from measured per-epoch times."""
    cells = grid_cells(args.project)
    stored = stored_epochs(args.project)
    measured, shapes = measure_cells(args, cells, device, root)
    table = Table("project", f"Projected {args.project} on one device ({device_name(device)})", COLUMNS)
    table.rows += [projection_row(cell, measured, stored, args.project_epochs)
                   for cell in sorted(cells, key=lambda c: c.key)]
    complete = all(not math.isnan(row["total_s"]) for row in table.rows)
    total = sum(row["total_s"] for row in table.rows if not math.isnan(row["total_s"]))
    n_trials = sum(cell.trials for cell in cells)
    summary = f"{n_trials} trials, serially: {total / 60:.1f} min"
    if not complete:
        summary += " (cells not measured excluded)"
    speedup = best_speedup(concurrency)
    if speedup and speedup[0] > 0:
        summary += (f"; at {speedup[1]} concurrent trials (measured speedup {speedup[0]:.2f}, "
                    f"{concurrency.title}): {total / speedup[0] / 60:.1f} min")
    table.rows.append({"dataset": "all", "model": "", "variant": "", "trials": n_trials, "total_s": total,
                       "timing_from": "sum" + ("" if complete else " of measured cells")})
    table.notes += [
        summary,
        "shapes (synthetic stand-ins with random text vectors): " + "; ".join(f"{d}: {s}" for d, s in shapes.items()),
        f"epochs per trial: the mean of stored finished '{args.project}' runs per cell where the results store "
        f"has them, else the same model and variant on other datasets, else the default {args.project_epochs} "
        "(--project-epochs); per-epoch and per-evaluation seconds measured here (median of "
        f"{args.repeats} epochs after a warm-up, one evaluation of the validation users)",
        "trial_s = epochs x epoch_s + (validations + test) x eval_s; data loading and process start excluded "
        "(see the concurrent table for a whole trial's cost)",
    ]
    return table

