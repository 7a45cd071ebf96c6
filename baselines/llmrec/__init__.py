"""LLMRec (Wei et al. WSDM 2024) with semantic-proxy edge augmentation (no live LLM)."""
