"""The shared LightGCN backbone (He et al. SIGIR 2020)."""
