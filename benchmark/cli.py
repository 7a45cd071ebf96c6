"""`dmrec-bench COMMAND [options]`: the suite's one command line.

Each command is exactly `python -m benchmark.<module>` with the same options (it is that module's
`main(argv)`), so the two spellings never drift apart. Modules are imported only when their command
runs: `dmrec-bench --help` and `--version` stay instant.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from contextlib import contextmanager

from benchmark import version

# command -> (module whose main(argv) it runs, what it does)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("benchmark.run", "run a grid of trials (local Ray, a cluster, or in this process); resumable"),
    "data": ("benchmark.data.__main__", "list, prepare, fetch and describe datasets"),
    "analysis": ("benchmark.analysis.__main__", "tables, figures and the report from the stored trials"),
    "models": ("benchmark.models", "the registered models and matchers"),
    "perf": ("benchmark.perf.__main__", "speed of DMRec against its base, of concurrent trials, of Table 2"),
    "tune": ("benchmark.tune", "tune every cell of a grid on validation, equal budgets; run the tuned configs"),
}
EXIT_USAGE = 2


def parser() -> argparse.ArgumentParser:
    width = max(map(len, COMMANDS))
    listing = "\n".join(f"  {name:<{width}}  {about}" for name, (_, about) in COMMANDS.items())
    p = argparse.ArgumentParser(
        prog="dmrec-bench", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The reproducibility benchmark suite for DMRec (SIGIR 2025).",
        epilog=f"commands:\n{listing}\n\n`dmrec-bench COMMAND --help` lists a command's options; "
               f"`dmrec-bench COMMAND ...` is `python -m <module> ...`.\n"
               f"Exit status: 0 all done, 1 bad data or failed trials, 2 a bad command line, config or grid.")
    p.add_argument("--version", action="version", version=f"dmrec-bench {version()}")
    p.add_argument("command", metavar="COMMAND", help=", ".join(COMMANDS))
    p.add_argument("arguments", nargs=argparse.REMAINDER, metavar="...", help="the command's own options")
    return p


def _exit_code(stop: SystemExit) -> int:
    if stop.code is None or isinstance(stop.code, int):
        return stop.code or 0
    print(stop.code, file=sys.stderr)  # SystemExit("message") prints and exits 1
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser().parse_args(argv)
    except SystemExit as stop:  # --help and --version exit 0, a bad command line 2
        return _exit_code(stop)
    if args.command not in COMMANDS:
        close = difflib.get_close_matches(args.command, COMMANDS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; the commands are {', '.join(COMMANDS)}"
        print(f"dmrec-bench: unknown command '{args.command}'{hint}", file=sys.stderr)
        return EXIT_USAGE
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        with called_as(f"dmrec-bench {args.command}", f"python -m {module.__name__.removesuffix('.__main__')}"):
            return module.main(args.arguments)
    except SystemExit as stop:
        return _exit_code(stop)


@contextmanager
def called_as(name: str, module_prog: str):
    """The command's usage and errors name it as it was called (`dmrec-bench run`), not as the
    `python -m benchmark.run` its module's parser spells; for this call only."""
    original = argparse.ArgumentParser.__init__

    def init(self, *args, prog=None, **kwargs):
        original(self, *args, prog=name if prog == module_prog else prog, **kwargs)

    argparse.ArgumentParser.__init__ = init
    try:
        yield
    finally:
        argparse.ArgumentParser.__init__ = original


if __name__ == "__main__":
    raise SystemExit(main())
