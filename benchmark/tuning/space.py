"""Search spaces: a model yaml's `search:` section, checked against the key's type and bounds."""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from benchmark.core.errors import ConfigError
from benchmark.runner.config import AXES, TRIAL_KEYS, known_keys, model_yaml
from benchmark.runner.values import KeyType, admits, check_value, single_key_bounds

SEARCH_FIELDS = ({"low", "high", "log"}, {"choices"})  # a range, or a list of choices


@dataclass(frozen=True)
class SearchRange:
    """One searched key: a `low..high` range (sampled on a log scale when `log`) or `choices`."""
    key: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple = ()

    @property
    def is_int(self) -> bool:
        return not self.choices and isinstance(self.low, int) and isinstance(self.high, int)

    def as_dict(self) -> dict:
        """The yaml entry it came from, normalised (what a stored search sample records)."""
        if self.choices:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log}


def _search_range(key: str, entry, key_type: KeyType | None, where: str) -> SearchRange:
    if not isinstance(entry, dict) or set(entry) not in ({"low", "high"}, *SEARCH_FIELDS):
        raise ConfigError(f"{where}: expected {{low, high, log: true|false}} or {{choices: [...]}}, got {entry!r}")
    if "choices" in entry:
        choices = entry["choices"]
        if not isinstance(choices, list) or len(choices) < 2:
            raise ConfigError(f"{where}: choices must be a list of at least two values, got {choices!r}")
        values = [check_value(key, value, key_type, where) for value in choices]
        if len({repr(v) for v in values}) != len(values):
            raise ConfigError(f"{where}: choices repeat a value ({choices!r})")
        for value in values:
            for holds, requirement in single_key_bounds(key):
                if not holds(value):
                    raise ConfigError(f"{where}: choice {key}={value!r} must be {requirement}")
        return SearchRange(key, choices=tuple(values))
    kinds = key_type.kinds if key_type is not None else ()
    if "int" not in kinds and "float" not in kinds:
        raise ConfigError(f"{where}: {key} is ({key_type.text if key_type else 'untyped'}): only int and float "
                          f"keys take a low..high range; give choices instead")
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: log must be true or false, got {log!r}")
    integer = "int" in kinds and "float" not in kinds
    bounds = []
    for name in ("low", "high"):
        value = entry[name]
        if not admits("int" if integer else "float", value):
            raise ConfigError(f"{where}: {name} must be {'an int' if integer else 'a finite number'} "
                              f"(the key is ({key_type.text})), got {value!r}")
        for holds, requirement in single_key_bounds(key):
            if not holds(value):
                raise ConfigError(f"{where}: {name} {key}={value!r} must be {requirement}")
        bounds.append(value if integer else float(value))
    low, high = bounds
    if not low < high:
        raise ConfigError(f"{where}: low ({low!r}) must be below high ({high!r})")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0, got {low!r}")
    return SearchRange(key, low, high, log)


def search_space(model: str) -> dict[str, SearchRange]:
    """The model yaml's `search:` section, checked: every key declared by the model (or the
    protocol), not a grid axis, each a range within the key's type and `BOUNDS` or a list of
    valid choices. Empty when the yaml has none."""
    path, content, types = model_yaml(model)
    section = content.get("search") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: 'search' must be a mapping of keys to ranges")
    allowed = known_keys(model) - {"preset"}
    space = {}
    for key, entry in section.items():
        where = f"{path} search.{key}"
        if key in AXES or key in TRIAL_KEYS:
            raise ConfigError(f"{where}: '{key}' is an axis of the grid, not a searched value")
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            raise ConfigError(f"{where}: model '{model}' declares no key '{key}'"
                              + (f" (did you mean '{close[0]}'?)" if close else ""))
        space[key] = _search_range(key, entry, types.get(key), where)
    return space
