"""`python -m benchmark.models list`: the registered models (baselines/registry.py), one line each."""
from __future__ import annotations

import argparse

from baselines.registry import REGISTRY, ROLES
from benchmark import version


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows real defaults; an option whose default is "not given" says what that means in its help."""

    def _get_help_string(self, action):
        return action.help if action.default in (None, False) else super()._get_help_string(action)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.models",
                                     description="The registered models: name, role, display name, description.",
                                     formatter_class=_Help)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="one line per registered model", formatter_class=_Help)
    listing.add_argument("--role", choices=ROLES, default=None, help="only models of this role (default: every role)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse exits 0 for --help/--version, 2 for a bad command line
        return int(stop.code or 0)
    names = [n for n, s in REGISTRY.items() if args.role is None or s.role == args.role]
    rows = [(n, REGISTRY[n].role, REGISTRY[n].label, REGISTRY[n].description) for n in names]
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(3)]
    for name, role, label, description in rows:
        print(f"{name:<{widths[0]}}  {role:<{widths[1]}}  {label:<{widths[2]}}  {description}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
