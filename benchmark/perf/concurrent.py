"""Stage `concurrent`: trials per hour with N trial processes sharing one device, for each N."""
from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmark.perf.clocks import device_name, synchronize
from benchmark.perf.table import Table
from benchmark.perf.variants import build_variant, matcher_label, variant_config

COLUMNS = ["n", "wall_s", "trials", "trials_per_hour", "mean_trial_s", "threads_each", "speedup"]


def fixed_epochs(args) -> dict:
    """A short trial's settings: `--trial-epochs` epochs, one validation at the last, then the test."""
    return {"epochs": args.trial_epochs, "eval_step": args.trial_epochs, "first_eval_epoch": None}


def one_trial(args, device: torch.device) -> int:
    """Train one short fixed-epoch trial (one validation at its last epoch, then the test) and print
    {"seconds", "train_s", "epochs"} as JSON: a trial's training and evaluation work, without the
    record around it."""
    started = time.perf_counter()
    params = {**fixed_epochs(args), "seed": args.seed}
    variant = build_variant(variant_config(args.trial_model, args.dataset, args.trial_matcher, params), device)
    variant.trainer.fit(variant.loader, variant.valid)
    variant.trainer.evaluate(variant.test)
    synchronize(device)
    print(json.dumps({"seconds": time.perf_counter() - started, "train_s": variant.trainer.train_seconds,
                      "epochs": variant.trainer.epochs_run}), flush=True)
    return 0


def run_processes(command: list[str], n: int, deadline: float) -> tuple[float, list, list[list[str]], bool]:
    """Start `n` trial processes (seeds 0..n-1) at once and wait for them until `deadline`;
    returns (wall seconds, processes, each one's output lines, whether the deadline stopped them)."""
    logs = [tempfile.TemporaryFile(mode="w+") for _ in range(n)]  # files, not pipes: a chatty child never blocks
    tick = time.perf_counter()
    processes = [subprocess.Popen([*command, "--seed", str(i)], stdout=log, stderr=subprocess.STDOUT, text=True)
                 for i, log in enumerate(logs)]
    timed_out = False
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            timed_out = True
            break
    wall = time.perf_counter() - tick
    outputs = []
    for process, log in zip(processes, logs, strict=True):
        if process.poll() is None:  # only the processes this stage started
            process.kill()
            process.wait()
        log.seek(0)
        outputs.append(log.read().strip().splitlines() or ["no output"])
        log.close()
    return wall, processes, outputs, timed_out


def measure_processes(command: list[str], n: int, deadline: float, table: Table, what: str,
                      time_limit: float) -> tuple[float, list[dict]] | None:
    """`n` processes of `command` at once (`run_processes`): (wall seconds, the JSON each printed
    last), or None, with a note in `table` saying why, when the deadline stopped them or one failed."""
    wall, processes, outputs, timed_out = run_processes(command, n, deadline)
    if timed_out:
        table.notes.append(f"{what} stopped by --time-limit {time_limit:g} s; not counted")
        return None
    failed = [i for i, process in enumerate(processes) if process.returncode != 0]
    if failed:
        table.notes.append(f"{what}: {len(failed)} trial process(es) failed ({outputs[failed[0]][-1]}); not counted")
        return None
    return wall, [json.loads(lines[-1]) for lines in outputs]


def trial_command(args, device: torch.device, threads: int) -> list[str]:
    return [sys.executable, "-m", "benchmark.perf", "--one-trial", "--device", device.type,
            "--dataset", args.dataset, "--trial-model", args.trial_model, "--trial-matcher",
            args.trial_matcher, "--trial-epochs", str(args.trial_epochs), "--threads", str(threads)]


def concurrent_stage(args, device: torch.device, source: str) -> Table:
    """Trials per hour with N trial processes sharing one device, for each N of --concurrent."""
    deadline = time.monotonic() + args.time_limit
    cores = os.cpu_count() or 1
    table = Table("concurrent", f"Concurrent trials on one device ({device_name(device)})", COLUMNS)
    base_rate = None
    for n in args.concurrent:
        if deadline - time.monotonic() <= 0:
            table.notes.append(f"N = {n} and above not run: --time-limit {args.time_limit:g} s reached")
            break
        threads = max(1, cores // n)
        measured = measure_processes(trial_command(args, device, threads), n, deadline, table, f"N = {n}",
                                     args.time_limit)
        if measured is None:
            break
        wall, results = measured
        seconds = [result["seconds"] for result in results]
        rate = n * 3600 / wall
        base_rate = base_rate or rate  # the first N measured (N = 1 unless asked otherwise)
        table.rows.append({"n": n, "wall_s": wall, "trials": n, "trials_per_hour": rate,
                           "mean_trial_s": statistics.mean(seconds), "threads_each": threads,
                           "speedup": rate / base_rate})
        print(f"  {n} concurrent: {wall:.1f} s wall, {rate:.0f} trials/hour", flush=True)
    table.notes[:0] = [
        f"each process: one {args.trial_model} {matcher_label(args.trial_matcher)} trial of {args.trial_epochs} "
        f"epoch(s), one validation and the test, on {source}; wall_s includes process start, imports and data "
        "loading (a grid pays them too), not the stored record's bookkeeping",
        f"{cores} CPU cores split evenly between the processes (threads_each); speedup is trials per hour "
        f"relative to N = {args.concurrent[0]}; mean_trial_s is a trial's time inside its process, after imports",
    ]
    return table


def earlier_concurrency(out: Path | None) -> Table | None:
    """The concurrent table an earlier run wrote to `out` (the GPU script runs each stage in its
    own process), so the projection can use its measured speedup; None when there is none."""
    path = out / "perf_concurrent.csv" if out is not None else None
    if path is None or not path.is_file():
        return None
    with open(path, newline="") as handle:
        rows = [{"n": int(row["n"]), "speedup": float(row["speedup"])} for row in csv.DictReader(handle)]
    return Table("concurrent", f"read from {path}", ["n", "speedup"], rows)


def best_speedup(table: Table | None) -> tuple[float, int] | None:
    if table is None or not table.rows:
        return None
    best = max(table.rows, key=lambda row: row["speedup"])
    return best["speedup"], best["n"]
