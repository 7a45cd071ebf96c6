"""python -m benchmark.analysis.reproducibility [--check]: see the package docstring."""
import sys

from benchmark.analysis.reproducibility.cli import main

if __name__ == "__main__":
    sys.exit(main())
