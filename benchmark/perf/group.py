"""Stage `group`: trials per hour when K seed-siblings train as one group (`train_group`), for each K
of `--group`, with one process and with each N of `--concurrent` processes at once."""
from __future__ import annotations

import csv
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from benchmark.perf.clocks import device_name, synchronize
from benchmark.perf.concurrent import fixed_epochs, measure_processes, trial_command
from benchmark.perf.table import Table
from benchmark.perf.variants import matcher_label, variant_config

COLUMNS = ["k", "processes", "trials", "wall_s", "trials_per_hour", "vs_k1", "work_s_per_trial", "work_vs_k1",
           "grouped", "threads_each"]


def member_seeds(process: int, k: int) -> list[int]:
    """The seeds of the `process`-th process's group: K consecutive ones, no two processes alike."""
    return list(range(process * k, (process + 1) * k))


def group_trial(args, device: torch.device) -> int:
    """A group stage's child: `--group-size` seed-siblings of the trial model, `--trial-epochs` fixed
    epochs, trained by `train_group` (K = 1: `train_and_evaluate`, an ordinary trial), each tested and
    given its record as a grid's trial is. Prints {"seconds", "members", "finished", "grouped", "work_s",
    "epochs"} as JSON (`work_s`: see `work_seconds`)."""
    from benchmark.runner.inputs import resolve_inputs
    from benchmark.runner.trial import train_group

    started = time.perf_counter()
    members = [resolve_inputs({**variant_config(args.trial_model, args.dataset, args.trial_matcher,
                                                {**fixed_epochs(args), "seed": seed}),
                               "use_gpu": device.type == "cuda"})
               for seed in member_seeds(args.seed, args.group_size)]
    outcomes: dict[int, object] = {}
    train_group(members, on_member_done=outcomes.__setitem__)
    synchronize(device)
    seconds = time.perf_counter() - started
    records = [outcome for outcome in outcomes.values() if isinstance(outcome, dict)]
    print(json.dumps({"seconds": seconds, "members": len(members), "finished": len(records),
                      "grouped": bool(records) and all("group" in record for record in records),
                      "work_s": work_seconds(records), "epochs": [record["epochs_run"] for record in records]}),
          flush=True)
    failures = [(i, o) for i, o in sorted(outcomes.items()) if not isinstance(o, dict)]
    if failures or len(outcomes) != len(members):
        index, error = failures[0] if failures else (None, "no outcome reported")
        print(f"perf: group member {index} failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


def work_seconds(records: list[dict]) -> float:
    """The seconds of the work a group's records repeat in every trial of a grid: each member's epochs
    at its median epoch time after the first (the first pays one-time warm-up a long trial hardly
    feels), its validations and its test. A member books its share of the group's epochs and
    validations, so the group's work is the sum over its members."""
    if not records:
        return math.nan
    total = 0.0
    for timings in (record["timings"] for record in records):
        epochs = timings["epoch_s"]
        steady = statistics.median(epochs[1:] or epochs) if epochs else 0.0
        total += len(epochs) * steady + timings["valid_s"] + timings["test_s"]
    return total


def group_row(k: int, n: int, wall: float, results: list[dict], threads: int) -> dict:
    """One (K, processes) row from its processes' JSON results; the ratios are filled in later."""
    return {"k": k, "processes": n, "trials": sum(r["finished"] for r in results), "wall_s": wall,
            "trials_per_hour": sum(r["finished"] for r in results) * 3600 / wall,
            "work_s_per_trial": statistics.mean(r["work_s"] / r["members"] for r in results),
            "grouped": "yes" if all(r["grouped"] for r in results) else "no", "threads_each": threads}


def measure_groups(args, device: torch.device, table: Table) -> None:
    """Fill `table` with a row per (processes, K) measured before --time-limit."""
    deadline = time.monotonic() + args.time_limit
    cores = os.cpu_count() or 1
    for n in sorted({1, *(args.concurrent or [])}):
        threads = max(1, cores // n)
        command = trial_command(args, device, threads)
        for k in args.group:
            if time.monotonic() >= deadline:
                table.notes.append(f"K = {k} with {n} process(es) and after: not run, --time-limit "
                                   f"{args.time_limit:g} s reached")
                return
            measured = measure_processes([*command, "--group-size", str(k)], n, deadline, table,
                                         f"K = {k}, {n} process(es)", args.time_limit)
            if measured is not None:
                table.rows.append(group_row(k, n, *measured, threads))
                print(f"  K = {k}, {n} process(es): {table.rows[-1]['trials_per_hour']:.0f} trials/hour", flush=True)


def add_ratios(rows: list[dict]) -> None:
    """vs_k1 and work_vs_k1: each row's trials per hour (of the whole process; of the work alone) over
    K = 1's with the same number of processes; NaN where that K = 1 row is missing."""
    solo = {row["processes"]: row for row in rows if row["k"] == 1}
    for row in rows:
        base = solo.get(row["processes"])
        row["vs_k1"] = row["trials_per_hour"] / base["trials_per_hour"] if base else math.nan
        row["work_vs_k1"] = base["work_s_per_trial"] / row["work_s_per_trial"] if base else math.nan


def group_stage(args, device: torch.device, source: str) -> Table:
    """Trials per hour with trials in groups of K, for each K of --group, alone and with N processes."""
    table = Table("group", f"Trial groups on one device ({device_name(device)})", COLUMNS)
    measure_groups(args, device, table)
    add_ratios(table.rows)
    table.notes[:0] = [
        f"each process: K seed-siblings of one {args.trial_model} {matcher_label(args.trial_matcher)} trial "
        f"({args.trial_epochs} epoch(s), one validation and the test), trained by `train_group` as one batched "
        "model (K = 1: one ordinary trial, `train_and_evaluate`), each member tested and recorded as in a grid, "
        f"on {source}; grouped: whether the records say they trained as one group",
        "wall_s includes process start, imports and data loading (once per process, whatever K); "
        "vs_k1: trials per hour over K = 1's with as many processes",
        "work_s_per_trial: a process's epochs (each at its median epoch seconds after the first, which pays "
        "one-time warm-up), its validation and its tests, over its K members; work_vs_k1: K = 1's "
        "work_s_per_trial over this row's (the speed-up of the work every trial of a grid repeats)",
        f"{os.cpu_count() or 1} CPU cores split evenly between the processes (threads_each)",
    ]
    return table


def earlier_groups(out: Path | None) -> Table | None:
    """The group table an earlier run wrote to `out`, for the grouped projection; None when there is none."""
    path = out / "perf_group.csv" if out is not None else None
    if path is None or not path.is_file():
        return None
    with open(path, newline="") as handle:
        rows = [{"k": int(row["k"]), "processes": int(row["processes"]), "work_s_per_trial":
                 float(row["work_s_per_trial"])} for row in csv.DictReader(handle)]
    return Table("group", f"read from {path}", ["k", "processes", "work_s_per_trial"], rows)
