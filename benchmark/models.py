"""The model registry: one name -> one RecBole model class and its defaults yaml.

Every model of the suite, DMRec's bases and the LM-enhanced baselines alike, is registered here
with one line. A target is either a class or a lazy "module:Class" string, so listing the
registry imports no model code. The defaults yaml sits beside the model's module, with the same
stem (`baselines/kar/kar.py` -> `baselines/kar/kar.yaml`), unless `defaults=` names another.

    python -m benchmark.models list
"""
from __future__ import annotations

import importlib
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelSpec:
    name: str
    target: object  # a class, or "package.module:Class"
    description: str
    defaults: Path | None = None
    display: str | None = None  # the name tables and figures print

    @property
    def label(self) -> str:
        return self.display or self.name

    def load_class(self) -> type:
        if isinstance(self.target, str):
            module_name, _, class_name = self.target.partition(":")
            return getattr(importlib.import_module(module_name), class_name)
        return self.target

    def defaults_path(self) -> Path:
        if self.defaults is not None:
            return Path(self.defaults)
        if isinstance(self.target, str):
            spec = importlib.util.find_spec(self.target.partition(":")[0])
            return Path(spec.origin).with_suffix(".yaml")
        return Path(inspect.getfile(self.target)).with_suffix(".yaml")


REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, target, description: str, defaults: str | Path | None = None,
             display: str | None = None) -> ModelSpec:
    """Add a model under `name`; a second registration of the same name is an error."""
    if name in REGISTRY:
        raise ValueError(f"model '{name}' is already registered ({REGISTRY[name].target})")
    spec = ModelSpec(name, target, description, Path(defaults) if defaults else None, display)
    REGISTRY[name] = spec
    return spec


def unregister(name: str) -> None:
    REGISTRY.pop(name, None)


def get_spec(name: str) -> ModelSpec:
    if name not in REGISTRY:
        raise KeyError(f"unknown model '{name}'; registered: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


# DMRec's generative bases. `matcher: none` is the plain base; `godm`/`cpdm`/`mddm` make it
# DMRec-G/C/M and the ablations come from the matcher registry (dmrec/matchers.py).
register("multvae", "dmrec.models.multvae:MultVAE", "Mult-VAE (Liang et al. WWW 2018), DMRec matchers attach", display="Mult-VAE")
register("ldiffrec", "dmrec.models.ldiffrec:LDiffRec", "L-DiffRec (Wang et al. SIGIR 2023), DMRec matchers attach", display="L-DiffRec")
register("cvga", "dmrec.models.cvga:CVGA", "CVGA (Zhang et al. TOIS 2023), DMRec matchers attach", display="CVGA")
# LightGCN and the LM-enhanced baselines of Table 3 (see baselines/).
register("lightgcn", "baselines.lightgcn.lightgcn:LightGCN", "LightGCN (He et al. SIGIR 2020), the baselines' backbone", display="LightGCN")
register("kar", "baselines.kar.kar:KAR", "KAR (Xi et al. RecSys 2024): hybrid-expert adaptor on LM vectors", display="KAR")
register("llmrec", "baselines.llmrec.llmrec:LLMRec", "LLMRec (Wei et al. WSDM 2024) with semantic-proxy edge augmentation", display="LLMRec (semantic-proxy augmentation)")
register("rlmrec_c", "baselines.rlmrec.rlmrec_c:RLMRecC", "RLMRec-C (Ren et al. WWW 2024): contrastive alignment", display="RLMRec-C")
register("rlmrec_g", "baselines.rlmrec.rlmrec_g:RLMRecG", "RLMRec-G (Ren et al. WWW 2024): masked generative alignment", display="RLMRec-G")
register("alpharec", "baselines.alpharec.alpharec:AlphaRec", "AlphaRec (Sheng et al. ICLR 2025): LM item vectors, no ID embeddings", display="AlphaRec")
register("alpharec_star", "baselines.alpharec.alpharec:AlphaRec", "AlphaRec* : AlphaRec with the user's own LM profile vector",
         defaults=Path(__file__).resolve().parents[1] / "baselines" / "alpharec" / "alpharec_star.yaml", display="AlphaRec*")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["list"]:
        print("usage: python -m benchmark.models list", file=sys.stderr)
        return 2
    width = max((len(n) for n in REGISTRY), default=0)
    for name, spec in REGISTRY.items():
        print(f"{name:<{width}}  {spec.description}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
