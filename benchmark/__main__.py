"""`python -m benchmark COMMAND ...`: the same as the `dmrec-bench` console script."""
from benchmark.cli import main

raise SystemExit(main())
