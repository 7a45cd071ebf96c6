"""AlphaRec (Sheng et al. ICLR 2025) and AlphaRec* (with the user's own profile vector)."""
