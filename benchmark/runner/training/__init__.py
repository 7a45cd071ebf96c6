"""The suite's one training and evaluation protocol, behind RecBole's Trainer interface."""
