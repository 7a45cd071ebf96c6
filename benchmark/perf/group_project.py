"""The grouped projection: a grid's wall time when its seed-siblings train in groups of K, from the
group stage's measured speed-up over K = 1 applied to the project stage's per-cell seconds."""
from __future__ import annotations

import math

from baselines.registry import get_spec
from benchmark.perf.table import Table

COLUMNS = ["k", "processes", "speedup", "runs", "wall_s", "wall_min", "trials_per_hour"]


def speedups(groups: Table) -> dict[tuple[int, int], float]:
    """{(K, processes): trials per second of work over K = 1 with one process}: n x work_s_per_trial
    of (1, 1) over that of (K, n); empty when (1, 1) was not measured."""
    base = next((row["work_s_per_trial"] for row in groups.rows if (row["k"], row["processes"]) == (1, 1)), None)
    if not base:
        return {}
    return {(row["k"], row["processes"]): row["processes"] * base / row["work_s_per_trial"] for row in groups.rows}


def forms_groups(model: str) -> bool:
    return bool(getattr(get_spec(model).load_class(), "groups", False))


def grouped_row(cells: list[dict], k: int, n: int, rates: dict) -> dict:
    """The grid at K and n processes: each cell's seconds over the speed-up, a partial group charged as a full
    one; a cell of a model that does not form groups runs its trials one by one at K = 1's speed."""
    wall, runs = 0, 0
    for cell in cells:
        trials = int(cell["trials"])
        if forms_groups(cell["model"]):
            groups = math.ceil(trials / k)
            wall += cell["total_s"] * (groups * k / trials) / rates[(k, n)]
        else:
            groups = trials
            wall += cell["total_s"] / rates[(1, n)]
        runs += groups
    n_trials = sum(int(cell["trials"]) for cell in cells)
    return {"k": k, "processes": n, "speedup": rates[(k, n)], "runs": runs, "wall_s": wall, "wall_min": wall / 60,
            "trials_per_hour": n_trials * 3600 / wall if wall else math.nan}


def group_projection(grid: str, project: Table, groups: Table) -> Table:
    """The projected wall time and trials per hour of `grid` for each (K, processes) the group stage measured."""
    table = Table("project_group", f"Projected {grid} with trial groups (a projection, not a measured grid)", COLUMNS)
    cells = [row for row in project.rows if row["dataset"] != "all" and not math.isnan(row["total_s"])]
    rates = speedups(groups)
    measured = sorted(rates, key=lambda key: (key[1], key[0]))
    table.rows += [grouped_row(cells, k, n, rates) for k, n in measured if (1, n) in rates]
    missing = len(project.rows) - 1 - len(cells)
    solo_models = sorted({cell["model"] for cell in cells if not forms_groups(cell["model"])})
    table.notes += [
        "method: each cell's projected seconds (the project table's total_s: epochs x epoch_s + evaluations x "
        "eval_s, times its trials) divided by the speed-up the group stage measured at that K and process count, "
        "summed; K = 1 with 1 process is the project table's serial total",
        "speedup: trials per second of work (steady-state epochs, validation and test inside the processes: the "
        f"work_s_per_trial of {groups.title}) over K = 1's with one process; process start, data loading and "
        "the first epoch's warm-up, which the project table leaves out, are left out of it too",
        "a cell of n seeds runs as ceil(n / K) groups (runs), a partial group charged as a full one (exact when K "
        "divides n); the speed-up was measured on the group stage's one model and is applied to every cell"
        + (f"; {', '.join(solo_models)} do(es) not form groups: one trial at a time at K = 1's speed"
           if solo_models else ""),
    ]
    if missing:
        table.notes.append(f"{missing} cell(s) not measured by the project stage (time limit) are left out")
    if not table.rows:
        table.notes.append("no projection: the group stage did not measure K = 1 with one process")
    return table
