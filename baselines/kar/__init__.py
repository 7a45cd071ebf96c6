"""KAR (Xi et al. RecSys 2024): hybrid-expert adaptor on LM vectors, here on LightGCN."""
