"""DMRec's generative bases as RecBole models; `base` holds what they share."""
