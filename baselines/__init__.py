"""LightGCN and the LM-enhanced baselines of the paper's Table 3, all on one LightGCN backbone.

Each baseline is one folder: the RecBole model and its defaults yaml (same stem). The registry
lines live in `baselines/registry.py`. How each relates to its original: its page in docs/models/.
"""
