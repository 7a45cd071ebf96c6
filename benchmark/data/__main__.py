"""python -m benchmark.data list | prepare NAME [...] | stats [NAME ...] | fetch rlmrec [--archive PATH]

Bad input ends with one line `error: <file>: <problem>` and exit status 1, never a traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from benchmark.data.prepared import DataError, list_prepared, prepared_root, read_meta


class _LowercaseLevel(logging.Formatter):
    def format(self, record):
        return f"{record.levelname.lower()}: {record.getMessage()}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.data", description=(
        f"Prepare datasets under {prepared_root()} (set $DMREC_DATA to move the data root)."))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="known builders and prepared datasets")
    prepare = commands.add_parser("prepare", help="build a prepared dataset")
    prepare.add_argument("dataset", help="builder name (see `list`)")
    prepare.add_argument("--source", type=Path, help="input folder (default: the builder's)")
    prepare.add_argument("--encoder", help="sentence-transformers model name or folder (default: bundled all-MiniLM-L6-v2)")
    prepare.add_argument("--stand-in-vectors", type=int, metavar="DIM", dest="stand_in_dim",
                         help="write seeded random DIM-d text vectors instead (speed runs only)")
    prepare.add_argument("--name", help="store under this name (e.g. amazon-standin)")
    prepare.add_argument("--force", action="store_true", help="rebuild even if up to date, re-embed instead of using the cache")
    stats = commands.add_parser("stats", help="Table 1 of the prepared datasets")
    stats.add_argument("names", nargs="*", help="prepared dataset names (default: all)")
    fetch = commands.add_parser("fetch", help="download, unpack and prepare a public archive")
    fetch.add_argument("what", choices=["rlmrec"])
    fetch.add_argument("--archive", type=Path, help="use this local archive instead of downloading")
    fetch.add_argument("--encoder", help="as for prepare (only used where vectors are missing)")
    fetch.add_argument("--force", action="store_true", help="as for prepare")
    return parser


def _list() -> None:
    from benchmark.data.builders import BUILDERS

    print("builders (python -m benchmark.data prepare NAME):")
    for name, builder in BUILDERS.items():
        print(f"  {name:14s} {builder.summary}")
    names = list_prepared()
    print(f"prepared in {prepared_root()}:" + ("" if names else " none"))
    for name in names:
        meta = read_meta(name)
        print(f"  {name:14s} {meta['n_users']:,} users, {meta['n_items']:,} items, {meta['n_interactions']:,} "
              f"interactions; text: {meta.get('text_encoder') or 'none'}; version {meta.get('version')}")


def _report(result) -> None:
    verb = "prepared" if result.rebuilt else "up to date"
    print(f"{result.name}: {verb} in {result.seconds:.1f} s -> {result.path}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LowercaseLevel())
    logger = logging.getLogger("benchmark.data")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        if args.command == "list":
            _list()
        elif args.command == "prepare":
            from benchmark.data.builders import PrepareOptions, prepare

            _report(prepare(args.dataset, PrepareOptions(args.source, args.encoder, args.stand_in_dim, args.name, args.force)))
        elif args.command == "stats":
            from benchmark.data.stats import format_table, statistics_rows

            metas = statistics_rows(args.names)
            print(format_table(metas) if metas else f"no prepared datasets in {prepared_root()}")
            for meta in metas:
                if meta.get("stand_in_vectors"):
                    print(f"warning: {meta['name']}: {meta['stand_in_vectors']['warning']}", file=sys.stderr)
        elif args.command == "fetch":
            from benchmark.data.building import PrepareOptions
            from benchmark.data.fetch import fetch_rlmrec

            for result in fetch_rlmrec(args.archive, options=PrepareOptions(encoder=args.encoder, force=args.force)):
                _report(result)
    except DataError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
