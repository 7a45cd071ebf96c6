"""One builder per source of interactions: the embedded MovieLens-100K with text, RLMRec's archive
of the paper's datasets (and its `fetch`), your own CSV/TSV/.inter files, and the `tiny` fixtures."""
