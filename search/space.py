"""Search spaces as data files: load, validate, and decide which parameters are active.

A space is a TOML file (``spaces/<name>.toml``, or any path). Nothing in it is executed.
Schema (see ``spaces/README.md``)::

    name = "lite"
    description = "..."

    [fixed]                 # values every candidate shares
    conv = "separable"

    [params.blocks]         # one table per searched hyperparameter, in sampling order
    type = "int"            # int | float | choice | bool
    low = 2
    high = 5

    [params.filters_3]
    type = "choice"
    values = [16, 32, 64]
    when = { blocks = [3, 4, 5] }   # active only for these values of an earlier parameter

    [reference]             # the seed's recipe in this space: complete values
    blocks = 5

A parameter whose ``when`` does not hold is *absent* from a candidate's values (as in
KerasTuner's conditional scopes), so no code can depend on it by accident. The tuner backends
turn one :class:`Space` into KerasTuner ``HyperParameters`` or Optuna ``suggest_*`` calls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tomllib

from search import builder
from search.errors import UserError

SPACES_DIR = Path(__file__).resolve().parent.parent / "spaces"
_TOP_KEYS = {"name", "description", "fixed", "params", "reference"}
_PARAM_KEYS = {
    "int": {"type", "low", "high", "step", "log", "when", "default"},
    "float": {"type", "low", "high", "step", "log", "when", "default"},
    "choice": {"type", "values", "when", "default"},
    "bool": {"type", "when", "default"},
}


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # int | float | choice | bool
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    values: tuple[Any, ...] = ()
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()  # (parent, allowed values), all must hold
    default: Any = None

    def domain(self) -> tuple[Any, ...] | None:
        """Every value of a discrete parameter (None for a continuous one)."""
        if self.type == "choice":
            return self.values
        if self.type == "bool":
            return (False, True)
        if self.type == "int":
            step = int(self.step or 1)
            return tuple(range(int(self.low), int(self.high) + 1, step))
        return None

    def contains(self, value: Any) -> bool:
        dom = self.domain()
        if dom is not None:
            return value in dom
        return self.low <= value <= self.high

    def sample(self, rng: np.random.Generator) -> Any:
        dom = self.domain()
        if dom is not None:
            return dom[int(rng.integers(len(dom)))]
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class Space:
    name: str
    description: str
    source: str  # the file it came from
    fixed: Mapping[str, Any]
    params: tuple[Param, ...]
    reference: Mapping[str, Any] | None = None
    _by_name: Mapping[str, Param] = field(default_factory=dict, repr=False, compare=False)

    def param(self, name: str) -> Param:
        return self._by_name[name]

    def is_active(self, param: Param, values: Mapping[str, Any]) -> bool:
        return all(parent in values and values[parent] in allowed for parent, allowed in param.when)

    def active_values(self, get: Any) -> dict[str, Any]:
        """Complete candidate values: fixed ones plus each active parameter's ``get(param)``.

        ``get`` is called in sampling order, only for parameters whose conditions hold on the
        values chosen before them; inactive parameters are absent from the result.
        """
        values: dict[str, Any] = dict(self.fixed)
        for p in self.params:
            if self.is_active(p, values):
                values[p.name] = get(p)
        return values

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return self.active_values(lambda p: p.sample(rng))

    def pinned(self, values: Mapping[str, Any]) -> Space:
        """The space with these parameters fixed (also in the reference): e.g. a resolution
        given on the command line. Parameters that depend on a pinned one keep working, as
        the pinned value is among the fixed values their conditions read."""
        params = tuple(p for p in self.params if p.name not in values)
        fixed = {**self.fixed, **values}
        ref = {**self.reference, **values} if self.reference is not None else None
        return Space(name=self.name, description=self.description, source=self.source,
                     fixed=fixed, params=params, reference=ref,
                     _by_name={p.name: p for p in params})

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "fixed": dict(self.fixed),
            "params": {
                p.name: {k: v for k, v in vars(p).items()
                         if k != "name" and v is not None and v is not False and v != ()}
                for p in self.params
            },
            "reference": dict(self.reference) if self.reference else None,
        }


def available() -> list[str]:
    """Names of the shipped spaces."""
    return sorted(p.stem for p in SPACES_DIR.glob("*.toml"))


def resolve(name_or_path: str) -> Path:
    """``lite`` -> ``spaces/lite.toml``; a path to a .toml file is taken as it is."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise UserError(f"--space {name_or_path!r}: no such file; expected a .toml space "
                            f"file or one of: {', '.join(available())}")
        return p
    shipped = SPACES_DIR / f"{name_or_path}.toml"
    if not shipped.is_file():
        raise UserError(f"unknown --space {name_or_path!r}; known spaces: "
                        f"{', '.join(available())} (or a path to a .toml file)")
    return shipped


def load(name_or_path: str) -> Space:
    """Load and validate a space; every error names the file, the key and what was expected."""
    path = resolve(name_or_path)
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: not valid TOML: {e}") from None
    return parse(doc, str(path))


def _err(source: str, key: str, msg: str) -> UserError:
    return UserError(f"{source}: {key}: {msg}")


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_value(source: str, key: str, name: str, value: Any) -> None:
    kind = builder.known_kind(name)
    if kind is None:
        raise _err(source, key, f"unknown hyperparameter {name!r}; known: "
                   + ", ".join(p for p, _, _ in builder.KNOWN))
    typ, allowed = kind
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": _is_num(value),
        "str": isinstance(value, str),
    }[typ]
    if not ok:
        expected = {"int": "an integer", "float": "a number", "str": "a string"}[typ]
        raise _err(source, key, f"expected {expected}, got {value!r}")
    if allowed is not None and value not in allowed:
        raise _err(source, key, f"{value!r} not in {list(allowed)}")


def parse(doc: Mapping[str, Any], source: str = "<space>") -> Space:
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise _err(source, sorted(unknown)[0], f"unknown key; expected one of {sorted(_TOP_KEYS)}")
    name = doc.get("name", Path(source).stem)
    if not isinstance(name, str) or not name:
        raise _err(source, "name", f"expected a non-empty string, got {name!r}")
    description = doc.get("description", "")
    fixed = doc.get("fixed", {})
    if not isinstance(fixed, dict):
        raise _err(source, "fixed", "expected a table of name = value")
    for k, v in fixed.items():
        _check_value(source, f"fixed.{k}", k, v)
    raw_params = doc.get("params", {})
    if not isinstance(raw_params, dict) or not raw_params:
        raise _err(source, "params", "expected at least one [params.NAME] table")

    params: list[Param] = []
    by_name: dict[str, Param] = {}
    for pname, spec in raw_params.items():
        key = f"params.{pname}"
        if pname in fixed:
            raise _err(source, key, "is also in [fixed]; a value is either fixed or searched")
        if not isinstance(spec, dict):
            raise _err(source, key, "expected a table with at least 'type'")
        ptype = spec.get("type")
        if ptype not in _PARAM_KEYS:
            raise _err(source, f"{key}.type", f"{ptype!r} not in {sorted(_PARAM_KEYS)}")
        extra = set(spec) - _PARAM_KEYS[ptype]
        if extra:
            raise _err(source, f"{key}.{sorted(extra)[0]}",
                       f"unknown key for a {ptype} parameter; expected {sorted(_PARAM_KEYS[ptype])}")
        kw: dict[str, Any] = {"name": pname, "type": ptype}
        if ptype in ("int", "float"):
            for b in ("low", "high"):
                if b not in spec:
                    raise _err(source, f"{key}.{b}", "missing; an int or float parameter needs low and high")
                if ptype == "int" and not (isinstance(spec[b], int) and not isinstance(spec[b], bool)):
                    raise _err(source, f"{key}.{b}", f"expected an integer, got {spec[b]!r}")
                if not _is_num(spec[b]):
                    raise _err(source, f"{key}.{b}", f"expected a number, got {spec[b]!r}")
            low, high = spec["low"], spec["high"]
            if not low <= high:
                raise _err(source, key, f"low <= high must hold, but got (low={low}, high={high})")
            log = spec.get("log", False)
            if not isinstance(log, bool):
                raise _err(source, f"{key}.log", f"expected true or false, got {log!r}")
            if log and low <= 0:
                raise _err(source, f"{key}.low", f"a log-scaled parameter needs low > 0, got {low}")
            step = spec.get("step")
            if step is not None and (not _is_num(step) or step <= 0):
                raise _err(source, f"{key}.step", f"expected a positive number, got {step!r}")
            kw.update(low=low, high=high, log=log, step=step)
        elif ptype == "choice":
            vals = spec.get("values")
            if not isinstance(vals, list) or not vals:
                raise _err(source, f"{key}.values", f"expected a non-empty list, got {vals!r}")
            if len({type(v) if not _is_num(v) else float for v in vals}) > 1:
                raise _err(source, f"{key}.values", f"all values must have one type, got {vals!r}")
            if len(set(vals)) != len(vals):
                raise _err(source, f"{key}.values", f"values repeat: {vals!r}")
            kw["values"] = tuple(vals)
        kind = builder.known_kind(pname)
        if kind is None:
            raise _err(source, key, f"unknown hyperparameter {pname!r}; known: "
                       + ", ".join(p for p, _, _ in builder.KNOWN))
        probe = Param(**kw)
        dom = probe.domain()
        for v in (dom if dom is not None else (probe.low, probe.high)):
            _check_value(source, key, pname, float(v) if kind[0] == "float" else v)
        when = spec.get("when", {})
        if not isinstance(when, dict):
            raise _err(source, f"{key}.when", "expected a table {parent = [values]}")
        conds = []
        for parent, allowed in when.items():
            if parent not in by_name:
                raise _err(source, f"{key}.when.{parent}",
                           "condition on a parameter that does not exist (or is defined later); "
                           f"defined so far: {sorted(by_name) or 'none'}")
            pdom = by_name[parent].domain()
            if pdom is None:
                raise _err(source, f"{key}.when.{parent}",
                           "a condition needs a discrete parent (int, choice or bool)")
            if not isinstance(allowed, list) or not allowed:
                raise _err(source, f"{key}.when.{parent}", f"expected a non-empty list, got {allowed!r}")
            bad = [a for a in allowed if a not in pdom]
            if bad:
                raise _err(source, f"{key}.when.{parent}",
                           f"{bad[0]!r} is not a value of {parent!r} ({list(pdom)})")
            conds.append((parent, tuple(allowed)))
        kw["when"] = tuple(conds)
        if "default" in spec:
            kw["default"] = spec["default"]
        p = Param(**kw)
        if p.default is not None and not p.contains(p.default):
            raise _err(source, f"{key}.default", f"{p.default!r} is outside the parameter's range")
        params.append(p)
        by_name[pname] = p

    space = Space(name=name, description=description, source=source, fixed=dict(fixed),
                  params=tuple(params), _by_name=by_name)
    _check_complete(space)
    reference = doc.get("reference")
    if reference is not None:
        if not isinstance(reference, dict):
            raise _err(source, "reference", "expected a table of name = value")
        for k, v in reference.items():
            _check_value(source, f"reference.{k}", k, v)
        ref = {**space.fixed, **reference}
        try:
            builder.architecture(ref)
        except KeyError as e:
            raise _err(source, "reference", f"incomplete: {e.args[0]!r} is missing") from None
        space = Space(name=name, description=description, source=source, fixed=dict(fixed),
                      params=tuple(params), reference=ref, _by_name=by_name)
    return space


def _values_of(space: Space, name: str) -> tuple[Any, ...] | None:
    if name in space.fixed:
        return (space.fixed[name],)
    if name in space._by_name:
        return space._by_name[name].domain()
    return None


def _check_complete(space: Space) -> None:
    """Every filters_i / dense_units_j a candidate can need is defined and active then."""
    for count, item in (("blocks", "filters"), ("dense_layers", "dense_units")):
        counts = _values_of(space, count)
        if counts is None:
            if count == "blocks" or count in space._by_name:
                raise _err(space.source, count, "must be fixed or searched (an int or choice)")
            counts = (builder.DEFAULTS[count],)
        for i in range(1, max(counts) + 1):
            needed = tuple(c for c in counts if c >= i)
            name = f"{item}_{i}"
            if name in space.fixed:
                continue
            if name not in space._by_name:
                raise _err(space.source, f"params.{name}",
                           f"missing; needed when {count} is {list(needed)}")
            p = space._by_name[name]
            for parent, allowed in p.when:
                if parent == count and not set(needed) <= set(allowed):
                    raise _err(space.source, f"params.{name}.when.{count}",
                               f"must include every {count} >= {i} ({list(needed)}), got {list(allowed)}")
