"""The model registry: one name -> one RecBole model class, its defaults yaml and every fact the
analysis needs about it.

Every model of the suite, DMRec's bases and the LM-enhanced baselines alike, is registered here
with one line. A target is either a class or a lazy "module:Class" string, so listing the
registry imports no model code; the module may sit in a folder without `__init__.py` (Python
imports it as a namespace package). The defaults yaml sits beside the model's module, with the
same stem (`baselines/kar/kar.py` -> `baselines/kar/kar.yaml`), unless `defaults=` names another.

A registration is the one source of what tables, figures and the report say about a model: its
role (which paper artefact it belongs to), its display name, its name in the paper's tables (None:
not in the paper) and its figure colour and marker. A model added by a user needs none of these:
its role is `user`, its display name its registry name, its colour and marker derived from the
name, so it appears in the results table, Table 3 (as a row marked "not in the paper") and the
report without an edit anywhere else.

    python -m benchmark.models list     (the listing command)
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
from dataclasses import dataclass
from pathlib import Path

# What a model is to the analysis: Table 2 pairs generative bases with DMRec's matchers, Table 3
# sets the LM-enhanced and ID baselines (and user-added models) against DMRec-M.
ROLES = ("generative_base", "lm_baseline", "id_baseline", "user")
TEXT_KINDS = ("user", "item")
# Colours a user-added model draws from (none is a built-in model's colour); picked by name hash.
USER_COLOURS = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354")
USER_MARKERS = ("D", "v", "P", "X", "*", "h")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    target: object  # a class, or "package.module:Class"
    description: str
    defaults: Path | None = None
    display: str | None = None  # the name tables and figures print
    role: str = "user"
    paper_name: str | None = None  # its name in the paper's tables; None: not in the paper
    colour: str | None = None
    marker: str | None = None
    text: tuple[str, ...] = ()  # the text vectors it reads ("user", "item") under its defaults, whatever the matcher

    @property
    def label(self) -> str:
        return self.display or self.name

    @property
    def in_paper(self) -> bool:
        return self.paper_name is not None

    @property
    def figure_colour(self) -> str:
        return self.colour or USER_COLOURS[_name_hash(self.name) % len(USER_COLOURS)]

    @property
    def figure_marker(self) -> str:
        return self.marker or USER_MARKERS[_name_hash(self.name) // len(USER_COLOURS) % len(USER_MARKERS)]

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
            if spec is None or spec.origin is None:
                raise ModuleNotFoundError(f"model '{self.name}': no module {self.target.partition(':')[0]}")
            return Path(spec.origin).with_suffix(".yaml")
        return Path(inspect.getfile(self.target)).with_suffix(".yaml")


def _name_hash(name: str) -> int:
    """A stable hash (Python's `hash` of a str changes per process)."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, target, description: str, defaults: str | Path | None = None,
             display: str | None = None, role: str = "user", paper_name: str | None = None,
             colour: str | None = None, marker: str | None = None, text: tuple[str, ...] = ()) -> ModelSpec:
    """Add a model under `name`; a second registration of the same name is an error. `text`: the
    text vectors ("user", "item") it reads, so a grid on a dataset without them is refused up front."""
    if name in REGISTRY:
        raise ValueError(f"model '{name}' is already registered ({REGISTRY[name].target})")
    if role not in ROLES:
        raise ValueError(f"model '{name}': role must be one of {', '.join(ROLES)}, not {role!r}")
    if not set(text) <= set(TEXT_KINDS):
        raise ValueError(f"model '{name}': text must name some of {', '.join(TEXT_KINDS)}, not {text!r}")
    spec = ModelSpec(name, target, description, Path(defaults) if defaults else None, display, role,
                     paper_name, colour, marker, tuple(k for k in TEXT_KINDS if k in text))
    REGISTRY[name] = spec
    return spec


def unregister(name: str) -> None:
    REGISTRY.pop(name, None)


def get_spec(name: str) -> ModelSpec:
    if name not in REGISTRY:
        raise KeyError(f"unknown model '{name}'; registered: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def models_with_role(*roles: str) -> list[str]:
    """Registered model names of the given roles, in registration order."""
    return [name for name, spec in REGISTRY.items() if spec.role in roles]


_HERE = Path(__file__).resolve().parents[1]
# DMRec's generative bases. `matcher: none` is the plain base; `godm`/`cpdm`/`mddm` make it
# DMRec-G/C/M and the ablations come from the matcher registry (dmrec/matchers.py).
register("multvae", "dmrec.models.multvae:MultVAE", "Mult-VAE (Liang et al. WWW 2018), DMRec matchers attach",
         display="Mult-VAE", role="generative_base", paper_name="Mult-VAE", colour="#595959", marker="o")
register("ldiffrec", "dmrec.models.ldiffrec:LDiffRec", "L-DiffRec (Wang et al. SIGIR 2023), DMRec matchers attach",
         display="L-DiffRec", role="generative_base", paper_name="L-DiffRec", colour="#7f7f7f", marker="s")
register("cvga", "dmrec.models.cvga:CVGA", "CVGA (Zhang et al. TOIS 2023), DMRec matchers attach",
         display="CVGA", role="generative_base", paper_name="CVGA", colour="#a0a0a0", marker="^")
# LightGCN and the LM-enhanced baselines of Table 3 (see baselines/).
register("lightgcn", "baselines.lightgcn.lightgcn:LightGCN", "LightGCN (He et al. SIGIR 2020), the baselines' backbone",
         display="LightGCN", role="id_baseline", paper_name="LightGCN", colour="#bcbd22", marker="o")
register("kar", "baselines.kar.kar:KAR", "KAR (Xi et al. RecSys 2024): hybrid-expert adaptor on LM vectors",
         display="KAR", role="lm_baseline", paper_name="KAR", colour="#9467bd", marker="s", text=("user", "item"))
register("llmrec", "baselines.llmrec.llmrec:LLMRec",
         "LLMRec (Wei et al. WSDM 2024) with semantic-proxy edge augmentation",
         display="LLMRec (semantic-proxy augmentation)", role="lm_baseline", paper_name="LLMRec", colour="#8c564b",
         marker="^", text=("user", "item"))
register("rlmrec_c", "baselines.rlmrec.rlmrec_c:RLMRecC", "RLMRec-C (Ren et al. WWW 2024): contrastive alignment",
         display="RLMRec-C", role="lm_baseline", paper_name="RLMRec-C", colour="#17becf", marker="v",
         text=("user", "item"))
register("rlmrec_g", "baselines.rlmrec.rlmrec_g:RLMRecG", "RLMRec-G (Ren et al. WWW 2024): masked generative alignment",
         display="RLMRec-G", role="lm_baseline", paper_name="RLMRec-G", colour="#1f77b4", marker="D",
         text=("user", "item"))
register("alpharec", "baselines.alpharec.alpharec:AlphaRec",
         "AlphaRec (Sheng et al. ICLR 2025): LM item vectors, no ID embeddings",
         display="AlphaRec", role="lm_baseline", paper_name="AlphaRec", colour="#2ca02c", marker="P", text=("item",))
register("alpharec_star", "baselines.alpharec.alpharec:AlphaRec",
         "AlphaRec* : AlphaRec with the user's own LM profile vector",
         defaults=_HERE / "baselines" / "alpharec" / "alpharec_star.yaml", display="AlphaRec*", role="lm_baseline",
         paper_name="AlphaRec*", colour="#e377c2", marker="X", text=("user", "item"))
# Your models: one register(...) line each, below this comment (docs/contributing.md, "Add a model").

