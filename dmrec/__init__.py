"""DMRec (Zhang et al., SIGIR 2025): distribution matching between the collaborative and the
language spaces of generative recommenders. `divergences` (Gaussian KL and 2-Wasserstein),
`pmn` (the probabilistic meta-network), `matchers` (GODM, CPDM, MDDM, ablations; paper and
released formulations) and `models` (Mult-VAE, L-DiffRec, CVGA as RecBole models)."""
