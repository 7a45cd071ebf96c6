"""The README's "Adding a baseline" recipe, followed literally: one folder (model + yaml), one
registration line, and the new model runs through the same runner path and lands in the results."""
import math
import sys
import textwrap

from benchmark.models import register, unregister
from benchmark.store import ResultStore

MODEL_SOURCE = '''
"""LightGCN whose layer-0 item embeddings also carry a linear map of the item's LM vector."""
import torch
from torch import nn

from baselines.lightgcn.lightgcn import LightGCN


class TextLightGCN(LightGCN):
    """LightGCN (He et al. SIGIR 2020) + a projected LM item vector at layer 0 (an example)."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.item_text = self.load_text_vectors(dataset, "item")  # (N, d_s), row 0 = padding
        self.project = nn.Linear(self.item_text.shape[1], self.embedding_size, bias=False)
        self.text_weight = float(config["text_weight"])

    def layer0(self) -> torch.Tensor:
        items = self.item_embedding.weight + self.text_weight * self.project(self.item_text)
        return torch.cat([self.user_embedding.weight, items])
'''

DEFAULTS = '''
embedding_size: 32          # (int) latent size d
n_layers: 2                 # (int) graph propagation layers
layer_combination: mean     # (str) mean | sum
keep_rate: 1.0              # (float) edge keep probability in training
reg_weight: 1.0e-4          # (float) L2 weight on the batch's layer-0 rows
text_weight: 1.0            # (float) weight of the projected LM vector
'''


def test_recipe_registers_runs_and_stores(data_root, tmp_path, monkeypatch):
    folder = tmp_path / "my_baselines" / "text_lightgcn"  # step 1: one folder, model + yaml
    folder.mkdir(parents=True)
    (folder.parent / "__init__.py").write_text("")
    (folder / "__init__.py").write_text("")
    (folder / "text_lightgcn.py").write_text(textwrap.dedent(MODEL_SOURCE))
    (folder / "text_lightgcn.yaml").write_text(textwrap.dedent(DEFAULTS))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DMREC_RESULTS", str(tmp_path / "results"))

    # step 2: one registration line (in benchmark/models.py for a built-in baseline)
    register("text_lightgcn", "my_baselines.text_lightgcn.text_lightgcn:TextLightGCN",
             "LightGCN with projected LM item vectors (README example)", display="Text-LightGCN")
    try:
        grid = tmp_path / "mine.yaml"  # step 3: put it in a grid
        grid.write_text(
            "blocks:\n  - name: mine\n    datasets: [tiny]\n    models: [text_lightgcn, lightgcn]\n"
            "    seeds: 1\n    params: {epochs: 4, eval_step: 2, stopping_step: 2}\n"
        )
        from benchmark.run import main

        assert main(["--grid", str(grid), "--no-ray"]) == 0
        index = ResultStore("mine").index()
        assert set(index["model"]) == {"text_lightgcn", "lightgcn"}
        row = index[index["model"] == "text_lightgcn"].iloc[0]
        assert math.isfinite(row["test_recall@20"]) and row["epochs_run"] == 4
        record = ResultStore("mine").read_record(row["trial_id"])
        assert record["config"]["text_weight"] == 1.0  # its yaml's defaults were resolved
    finally:
        unregister("text_lightgcn")
        sys.modules.pop("my_baselines.text_lightgcn.text_lightgcn", None)
