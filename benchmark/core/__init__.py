"""The lowest layer: facts and operations every other room shares (the paper's datasets, paths,
errors, the training interactions, an atomic write). It imports nothing of ours."""
