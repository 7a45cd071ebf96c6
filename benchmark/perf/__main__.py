"""`python -m benchmark.perf`: the command line of the speed benchmark (see the package's docstring)."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import torch

from benchmark import perf, version
from benchmark.perf.concurrent import concurrent_stage, earlier_concurrency, one_trial
from benchmark.perf.epoch import epoch_stage
from benchmark.perf.group import earlier_groups, group_stage, group_trial
from benchmark.perf.group_project import group_projection
from benchmark.perf.project import project_stage
from benchmark.perf.synthetic import parse_shape, write_stand_in
from benchmark.perf.table import Table


def counts(flag: str, letter: str, example: str, always: tuple[int, ...] = ()):
    """The argparse type of a comma-separated list of counts >= 1 (sorted, distinct, `always` added)."""
    def parse(text: str) -> list[int]:
        try:
            values = [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} {text!r}: expected comma-separated integers, "
                                             f"e.g. {example}") from None
        if not values or min(values) < 1:
            raise argparse.ArgumentTypeError(f"{flag} {text!r}: every {letter} must be >= 1")
        return sorted(set(values) | set(always))
    return parse


concurrency_list = counts("--concurrent", "N", "1,2,4,8")
group_list = counts("--group", "K", "1,5,10", always=(1,))  # K = 1, the ordinary trial, is what K > 1 is compared with


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmark.perf", description=perf.__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the models run")
    p.add_argument("--dataset", default="amazon", help="prepared dataset with text vectors (synthetic stand-in "
                   "of its Table 1 shape when not prepared)")
    p.add_argument("--synthetic", action="store_true", help="time a random dataset of the dataset's Table 1 shape")
    p.add_argument("--shape", type=parse_shape, default=None, metavar="U,I,N,D",
                   help="shape (users, items, interactions, text dim) of synthetic data, instead of Table 1's")
    p.add_argument("--repeats", type=int, default=5, help="rounds (epoch stage) and timed epochs (project stage)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (none: torch's choice)")
    p.add_argument("--skip-epoch-table", action="store_true", help="run only the other stages asked for")
    p.add_argument("--concurrent", type=concurrency_list, default=None, metavar="N,N,...",
                   help="also measure trials per hour with N concurrent trial processes, e.g. 1,2,4,8")
    p.add_argument("--group", type=group_list, default=None, metavar="K,K,...",
                   help="also measure trials per hour when K seed-siblings train as one group, e.g. 1,5,10 "
                        "(K = 1 is always measured; with --concurrent, also N processes at once)")
    p.add_argument("--trial-model", default="multvae", help="model of the concurrent and group stages' trials")
    p.add_argument("--trial-matcher", default="mddm", help="matcher of the concurrent and group stages' trials")
    p.add_argument("--trial-epochs", type=int, default=3, help="epochs of each concurrent- or group-stage trial")
    p.add_argument("--project", default=None, metavar="GRID", help="also project this grid's wall time, e.g. table2")
    p.add_argument("--project-epochs", type=int, default=100,
                   help="epochs per trial where no stored run of the grid says otherwise")
    p.add_argument("--time-limit", type=float, default=600.0, help="seconds each stage may take")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for perf_<stage>.{csv,md}, each written when done (none: print only)")
    p.add_argument("--record", action="store_true",
                   help="store the tables as a dated measurement in docs/measurements/perf-<device>.md")
    p.add_argument("--one-trial", action="store_true", help=argparse.SUPPRESS)  # a concurrent stage's child
    p.add_argument("--group-size", type=int, default=None, help=argparse.SUPPRESS)  # with it: a group stage's child
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return _run(parser().parse_args(argv), argv)


def refusal(args) -> str | None:
    """The one line that refuses these arguments before any stage starts, or None."""
    if args.repeats < 1 or args.trial_epochs < 1 or args.time_limit <= 0 or args.project_epochs < 1:
        return "--repeats, --trial-epochs, --project-epochs and --time-limit must be positive"
    if args.group_size is not None and args.group_size < 1:
        return "--group-size must be positive"
    if args.device == "cuda" and not torch.cuda.is_available():
        return "--device cuda, but torch sees no CUDA device (torch.cuda.is_available() is False)"
    if args.one_trial:
        return None
    if args.project:
        from benchmark.runner.grid import GridError, load_grid

        try:
            load_grid(args.project)
        except GridError as error:
            return f"--project: {error}"
    if args.concurrent or args.group:
        from benchmark.runner.config import resolve

        try:  # before any child starts: a typo is one line, not N failed processes
            resolve(args.trial_model, args.dataset, {"matcher": args.trial_matcher})
        except (KeyError, ValueError) as error:
            return f"--trial-model/--trial-matcher: {error.args[0] if error.args else error}"
    return None


def _run(args, argv: list[str]) -> int:
    problem = refusal(args)
    if problem is not None:
        print(f"perf: {problem}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.one_trial:
        return one_trial(args, device) if args.group_size is None else group_trial(args, device)
    with tempfile.TemporaryDirectory(prefix="dmrec-perf-") as scratch:
        with data_source(args, Path(scratch)) as source:
            tables = run_stages(args, device, source, Path(scratch))
    if args.record and tables:
        from benchmark.measurements import record_measurement

        path = record_measurement(f"perf-{args.device}", ["python", "-m", "benchmark.perf", *argv],
                                  "\n".join(table.markdown() for table in tables))
        print(f"perf: recorded {path}")
    return 0


@contextmanager
def data_root_at(folder: Path | None):
    """$DMREC_DATA set to `folder` inside the block (children started there inherit it), then restored."""
    previous = os.environ.get("DMREC_DATA")
    if folder is not None:
        os.environ["DMREC_DATA"] = str(folder)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("DMREC_DATA", None)
        else:
            os.environ["DMREC_DATA"] = previous


@contextmanager
def data_source(args, scratch: Path):
    """Where the epoch and concurrent stages read `--dataset`: the prepared one, else (or with
    --synthetic) a stand-in of its shape in `scratch`; yields the words that say which."""
    from benchmark.core.errors import DataError
    from benchmark.data.layout import read_meta

    needs_dataset = not args.skip_epoch_table or bool(args.concurrent) or bool(args.group)
    synthetic = args.synthetic
    if needs_dataset and not synthetic:
        try:
            read_meta(args.dataset)
        except DataError:
            synthetic = True
            print(f"perf: dataset '{args.dataset}' is not prepared here; timing a synthetic stand-in of its shape "
                  "instead (as --synthetic)", flush=True)
    if not (needs_dataset and synthetic):
        with data_root_at(None):
            yield f"prepared dataset '{args.dataset}'"
        return
    with data_root_at(scratch):
        _, where = write_stand_in(args.dataset, args.shape, scratch / "prepared")
        yield f"synthetic stand-in of '{args.dataset}' ({where})"


def run_stages(args, device: torch.device, source: str, scratch: Path) -> list[Table]:
    tables: list[Table] = []
    concurrency = groups = None
    if not args.skip_epoch_table:
        tables.append(epoch_stage(args, device, source))
        tables[-1].write(args.out)
    if args.concurrent:
        concurrency = concurrent_stage(args, device, source)
        tables.append(concurrency)
        concurrency.write(args.out)
    if args.group:
        groups = group_stage(args, device, source)
        tables.append(groups)
        groups.write(args.out)
    if args.project:
        project_root = scratch / "project"
        with data_root_at(project_root):  # the grid's dataset names, at their shapes
            tables.append(project_stage(args, device, concurrency or earlier_concurrency(args.out), project_root))
        tables[-1].write(args.out)
        groups = groups or earlier_groups(args.out)
        if groups is not None:
            tables.append(group_projection(args.project, tables[-1], groups))
            tables[-1].write(args.out)
    return tables


if __name__ == "__main__":
    raise SystemExit(main())
