"""RLMRec (Ren et al. WWW 2024): contrastive (-C) and generative (-G) alignment on LightGCN."""
