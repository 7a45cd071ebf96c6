"""python -m benchmark.data list | prepare NAME [...] | stats [NAME ...] | fetch rlmrec [--archive PATH]

Exit status: 0 done; 1 bad data (one line `error: <file>: <problem>`, never a traceback, nothing
already prepared changed); 2 a bad command line (unknown dataset, unusable --name, an option the
builder does not take).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from benchmark import version
from benchmark.core.errors import DataError, DataRequestError
from benchmark.data.layout import list_prepared, prepared_root, read_meta


class _LowercaseLevel(logging.Formatter):
    def format(self, record):
        return f"{record.levelname.lower()}: {record.getMessage()}"


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown in --help, except where the help already says what an unset option means."""

    def _get_help_string(self, action):
        if action.default in (None, ()) or "(default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def _columns(text: str):
    from benchmark.data.sources.own_data import parse_columns

    try:
        return parse_columns(text)
    except DataRequestError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _described_root() -> str:
    try:
        return str(prepared_root())
    except DataError:  # a data root that cannot be resolved: said in one line once the command runs
        return "$DMREC_DATA/prepared"


def _parser() -> argparse.ArgumentParser:
    formatter = _HelpFormatter
    parser = argparse.ArgumentParser(prog="python -m benchmark.data", formatter_class=formatter, description=(
        f"Prepare datasets under {_described_root()} (set $DMREC_DATA to move the data root)."))
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="known builders and prepared datasets", formatter_class=formatter)
    prepare = commands.add_parser("prepare", help="build a prepared dataset", formatter_class=formatter,
                                  description="Build a prepared dataset. NAME is a builder (see `list`), or the "
                                              "name for your own interactions given by --source FILE.csv|.tsv|.inter.")
    prepare.add_argument("dataset", metavar="NAME",
                         help="builder name (see `list`), or your dataset's name with --source FILE")
    prepare.add_argument("--source", type=Path, help="input folder or interaction file (default: the builder's)")
    prepare.add_argument("--encoder",
                         help="sentence-transformers model name or folder (default: bundled all-MiniLM-L6-v2)")
    prepare.add_argument("--stand-in-vectors", type=_positive_int, metavar="DIM", dest="stand_in_dim",
                         help="write seeded random DIM-d text vectors instead (speed runs only; default: embed)")
    prepare.add_argument("--name", help="store under this name (e.g. amazon-standin; default: the builder's)")
    prepare.add_argument("--force", action="store_true",
                         help="rebuild even if up to date, re-embed instead of using the cache")
    own = prepare.add_argument_group("your own interactions (--source FILE.csv|.tsv|.inter)")
    own.add_argument("--columns", type=_columns, default=(), metavar="ROLE=COLUMN,...",
                     help="column names if not user/user_id, item/item_id, rating, timestamp (e.g. user=uid,item=iid)")
    own.add_argument("--min-rating", type=float, help="keep interactions rated at least this (default: keep all)")
    own.add_argument("--split", help="random (per-user 3:1:1, seeded), temporal (leave-last-out) or column:NAME "
                                     "(default: random)")
    own.add_argument("--user-text", type=Path, metavar="CSV", help="a table of id,text per user, embedded by --encoder")
    own.add_argument("--item-text", type=Path, metavar="CSV", help="a table of id,text per item, embedded by --encoder")
    stats = commands.add_parser("stats", help="statistics of the prepared datasets", formatter_class=formatter)
    stats.add_argument("names", nargs="*", help="prepared dataset names (default: all)")
    fetch = commands.add_parser("fetch", help="download, unpack and prepare a public archive",
                                formatter_class=formatter)
    fetch.add_argument("what", choices=["rlmrec"])
    fetch.add_argument("--archive", type=Path, help="use this local archive instead of downloading")
    fetch.add_argument("--encoder", help="as for prepare (only used where vectors are missing)")
    fetch.add_argument("--force", action="store_true", help="as for prepare")
    return parser


def _list() -> int:
    from benchmark.data.registry import BUILDERS

    print("builders (python -m benchmark.data prepare NAME):")
    for name, builder in BUILDERS.items():
        print(f"  {name:14s} {builder.summary}")
    names = list_prepared()
    print(f"prepared in {prepared_root()}:" + ("" if names else " none"))
    status = 0
    for name in names:
        try:
            meta = read_meta(name)
        except DataError as error:
            print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
            status = 1
            continue
        print(f"  {name:14s} {meta['n_users']:,} users, {meta['n_items']:,} items, {meta['n_interactions']:,} "
              f"interactions; text: {meta.get('text_encoder') or 'none'}; version {meta.get('version')}")
    return status


def _stats(names: list[str]) -> int:
    """Table 1 of the prepared datasets, rendered by the analysis's one Table 1 (with the paper's rows)."""
    from benchmark.analysis.rendering import to_markdown
    from benchmark.analysis.table1 import dataset_table
    from benchmark.data.registry import did_you_mean

    prepared = list_prepared()
    for name in names:
        if name not in prepared:
            raise DataRequestError(f"{name}: not a prepared dataset{did_you_mean(name, prepared)} "
                                   f"(prepared: {', '.join(prepared) or 'none'})")
    metas = [read_meta(name) for name in names or prepared]  # a damaged meta.json: one line, exit 1
    if not metas:
        print(f"no prepared datasets in {prepared_root()}")
        return 0
    print(to_markdown(dataset_table(names or prepared)))
    for meta in metas:
        if isinstance(meta.get("stand_in_vectors"), dict):
            print(f"warning: {meta.get('name')}: {meta['stand_in_vectors'].get('warning')}", file=sys.stderr)
    return 0


def _report(result) -> None:
    verb = "prepared" if result.rebuilt else "up to date"
    print(f"{result.name}: {verb} in {result.seconds:.1f} s -> {result.path}")


def _run(args) -> int:
    if args.command == "list":
        return _list()
    if args.command == "stats":
        return _stats(args.names)
    from benchmark.data.recipe import PrepareOptions

    if args.command == "prepare":
        from benchmark.data.registry import prepare

        options = PrepareOptions(args.source, args.encoder, args.stand_in_dim, args.name, args.force, args.columns,
                                 args.min_rating, args.split, args.user_text, args.item_text)
        _report(prepare(args.dataset, options))
    else:
        from benchmark.data.sources.fetch import fetch_rlmrec

        for result in fetch_rlmrec(args.archive, options=PrepareOptions(encoder=args.encoder, force=args.force)):
            _report(result)
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a bad command line (2), already printed
        return int(exit_.code or 0)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LowercaseLevel())
    logger = logging.getLogger("benchmark.data")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        return _run(args)
    except DataRequestError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    except DataError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    except OSError as error:  # a data root that cannot be read or written, a full disk
        print(f"error: {error.filename or prepared_root()}: {error.strerror or error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted (any previous prepared copy is kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
