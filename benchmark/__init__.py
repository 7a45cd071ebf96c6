"""dmrec-bench: the reproducibility benchmark suite for DMRec (SIGIR 2025)."""
