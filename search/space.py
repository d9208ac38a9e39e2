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

    [reference]             # the reference recipe in this space: complete values
    blocks = 5

A parameter whose ``when`` does not hold is *absent* from a candidate's values (as in
KerasTuner's conditional scopes), so no code can depend on it by accident. The tuner backends
turn one :class:`Space` into KerasTuner ``HyperParameters`` or Optuna ``suggest_*`` calls.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tomllib

from search import builder
from search.config import INT_LIMITS
from search.errors import UserError
from search.files import check_name, show

SPACES_DIR = Path(__file__).resolve().parent.parent / "spaces"
#: A space file is a page of text; anything larger is not one.
MAX_FILE_BYTES = 1024 * 1024
MAX_NAME = 80  # a space's name starts the default run name, "<name>-<date>-<time>"
MAX_DESCRIPTION = 2000
MAX_CHOICES = 1000
#: The values each numeric hyperparameter may take: (low, high, low excluded, high excluded).
#: Wide enough for any network this toolkit is for, narrow enough that a typo fails here,
#: not after minutes of training or gigabytes of memory.
LIMITS: dict[str, tuple[float, float, bool, bool]] = {
    r"blocks": (1, 12, False, False),
    r"filters_[1-9]\d*": (1, 1024, False, False),
    r"kernel_size": (1, 15, False, False),
    r"leaky_slope": (0, 1, False, False),
    r"conv_l2|dense_l2": (0, 1, False, False),
    r"dense_layers": (0, 8, False, False),
    r"dense_units_[1-9]\d*": (1, 8192, False, False),
    r"dropout": (0, 1, False, True),
    r"dropout_decay": (0, 1, False, False),
    r"learning_rate": (0, 1, True, False),
    r"image_size": (*INT_LIMITS["image_size"], False, False),
    r"batch_size": (*INT_LIMITS["batch_size"], False, False),
    r"augment": (0, 1, False, False),
    r"width": (0, 4, True, False),
    r"expansion(_[1-9]\d*)?": (1, 12, False, False),
    r"se_ratio(_[1-9]\d*)?": (0, 1, False, False),
    r"stem_filters": (0, 1024, False, False),
    r"last_filters": (0, 4096, False, False),
}
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
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise UserError(f"{path}: cannot be read ({e.strerror or e}); expected a readable "
                        ".toml space file") from None
    if len(raw) > MAX_FILE_BYTES:
        raise UserError(f"{path}: larger than {MAX_FILE_BYTES // 1024} KiB; expected a space "
                        "file (a page of TOML)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte {e.start}); expected a TOML file "
                        "saved as UTF-8") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: not valid TOML: {e}") from None
    return parse(doc, str(path))


def _err(source: str, key: str, msg: str) -> UserError:
    return UserError(f"{source}: {key}: {msg}")


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _limits(name: str) -> tuple[float, float, bool, bool] | None:
    for pattern, limits in LIMITS.items():
        if re.fullmatch(pattern, name):
            return limits
    return None


def _range_text(typ: str, low: float, high: float, low_open: bool, high_open: bool) -> str:
    if typ == "int":
        return f"a whole number from {low:g} to {high:g}"
    if low_open:
        return f"a number above {low:g}, at most {high:g}"
    if high_open:
        return f"a number from {low:g}, below {high:g}"
    return f"a number from {low:g} to {high:g}"


def _check_value(source: str, key: str, name: str, value: Any) -> None:
    """The one check of a value a space gives a hyperparameter (fixed, a bound, a choice, a
    default, the reference): its kind, a finite number, within :data:`LIMITS`."""
    kind = builder.known_kind(name)
    if kind is None:
        raise _err(source, key, f"unknown hyperparameter {show(name)}; known: "
                   + builder.known_names())
    typ, allowed = kind
    ok = {
        "int": _is_int(value),
        "float": _is_num(value),
        "str": isinstance(value, str),
    }[typ]
    if not ok:
        expected = {"int": "a whole number", "float": "a number", "str": "a string"}[typ]
        raise _err(source, key, f"expected {expected}, got {show(value)}")
    if allowed is not None and value not in allowed:
        raise _err(source, key, f"{show(value)} not in {list(allowed)}")
    if typ == "str":
        return
    if not math.isfinite(value):
        raise _err(source, key, f"expected a finite number, got {value}")
    limits = _limits(name)
    if limits is not None:
        low, high, low_open, high_open = limits
        if (value < low or value > high or (low_open and value == low)
                or (high_open and value == high)):
            raise _err(source, key, f"{show(value)} is out of range; expected "
                       + _range_text(typ, *limits))


def _scalar(source: str, key: str, value: Any) -> None:
    if not isinstance(value, (str, int, float, bool)):
        raise _err(source, key, f"expected a string, number or true/false, got {show(value)}")


def parse(doc: Mapping[str, Any], source: str = "<space>") -> Space:
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise _err(source, sorted(unknown)[0], f"unknown key; expected one of {sorted(_TOP_KEYS)}")
    name = check_name(doc.get("name", Path(source).stem), f"{source}: name", MAX_NAME)
    description = doc.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise _err(source, "description", f"expected a string of up to {MAX_DESCRIPTION} "
                   f"characters, got {show(description)}")
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
        if builder.known_kind(pname) is None:
            raise _err(source, key, f"unknown hyperparameter {show(pname)}; known: "
                       + builder.known_names())
        ptype = spec.get("type")
        if not isinstance(ptype, str) or ptype not in _PARAM_KEYS:
            raise _err(source, f"{key}.type", f"{show(ptype)} not in {sorted(_PARAM_KEYS)}")
        extra = set(spec) - _PARAM_KEYS[ptype]
        if extra:
            raise _err(source, f"{key}.{sorted(extra)[0]}",
                       f"unknown key for a {ptype} parameter; expected {sorted(_PARAM_KEYS[ptype])}")
        kw: dict[str, Any] = {"name": pname, "type": ptype}
        if ptype in ("int", "float"):
            for b in ("low", "high"):
                if b not in spec:
                    raise _err(source, f"{key}.{b}", "missing; an int or float parameter needs low and high")
                if ptype == "int" and not _is_int(spec[b]):
                    raise _err(source, f"{key}.{b}", f"expected a whole number, got {show(spec[b])}")
                if not _is_num(spec[b]):
                    raise _err(source, f"{key}.{b}", f"expected a number, got {show(spec[b])}")
                # before anything is built from the bounds: high = 20000000 fails here
                _check_value(source, f"{key}.{b}", pname,
                             float(spec[b]) if builder.known_kind(pname)[0] == "float"
                             else spec[b])
            low, high = spec["low"], spec["high"]
            if not low <= high:
                raise _err(source, key, f"low <= high must hold, but got (low={low}, high={high})")
            log = spec.get("log", False)
            if not isinstance(log, bool):
                raise _err(source, f"{key}.log", f"expected true or false, got {log!r}")
            if log and low <= 0:
                raise _err(source, f"{key}.low", f"a log-scaled parameter needs low > 0, got {low}")
            step = spec.get("step")
            if step is not None:
                if ptype == "int" and not (_is_int(step) and step >= 1):
                    raise _err(source, f"{key}.step", f"expected a whole number >= 1, got "
                               f"{show(step)}")
                if not (_is_num(step) and math.isfinite(step) and step > 0):
                    raise _err(source, f"{key}.step", f"expected a number above 0, got "
                               f"{show(step)}")
                if log:
                    raise _err(source, f"{key}.step", "a log-scaled parameter takes no step; "
                               "remove one of them")
            kw.update(low=low, high=high, log=log, step=step)
        elif ptype == "choice":
            vals = spec.get("values")
            if not isinstance(vals, list) or not vals or len(vals) > MAX_CHOICES:
                raise _err(source, f"{key}.values", f"expected a list of 1 to {MAX_CHOICES} "
                           f"values, got {show(vals)}")
            for v in vals:
                _scalar(source, f"{key}.values", v)
            if len({type(v) if not _is_num(v) else float for v in vals}) > 1:
                raise _err(source, f"{key}.values", f"all values must have one type, got {show(vals)}")
            if len(set(vals)) != len(vals):
                raise _err(source, f"{key}.values", f"values repeat: {show(vals)}")
            kw["values"] = tuple(vals)
        kind = builder.known_kind(pname)
        probe = Param(**kw)
        if ptype in ("choice", "bool"):  # a range's bounds were checked above
            for v in probe.domain():
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
                raise _err(source, f"{key}.when.{parent}", f"expected a non-empty list, got {show(allowed)}")
            for a in allowed:
                _scalar(source, f"{key}.when.{parent}", a)
            bad = [a for a in allowed if a not in pdom]
            if bad:
                raise _err(source, f"{key}.when.{parent}",
                           f"{bad[0]!r} is not a value of {parent!r} ({list(pdom)})")
            conds.append((parent, tuple(allowed)))
        kw["when"] = tuple(conds)
        if "default" in spec:
            kw["default"] = spec["default"]
            if ptype == "bool":
                if not isinstance(spec["default"], bool):
                    raise _err(source, f"{key}.default", f"expected true or false, got "
                               f"{show(spec['default'])}")
            else:
                _check_value(source, f"{key}.default", pname, spec["default"])
        p = Param(**kw)
        if p.default is not None and not p.contains(p.default):
            raise _err(source, f"{key}.default", f"{p.default!r} is outside the parameter's range")
        params.append(p)
        by_name[pname] = p

    space = Space(name=name, description=description, source=source, fixed=dict(fixed),
                  params=tuple(params), _by_name=by_name)
    _check_complete(space)
    _check_inverted_only(space)
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


def _check_inverted_only(space: Space) -> None:
    """``expansion`` and ``se_ratio`` shape inverted residual blocks only: a space that gives
    them and can never build one has a mistake in it (a forgotten ``conv = "inverted"``)."""
    convs: set[Any] = set()
    for name in [*space.fixed, *space._by_name]:
        if re.fullmatch(r"conv(_[1-9]\d*)?", name):
            convs |= set(_values_of(space, name) or ())
    if "conv" not in space.fixed and "conv" not in space._by_name:
        convs.add(builder.DEFAULTS["conv"])
    if "inverted" in convs:
        return
    for name in [*space.fixed, *space._by_name]:
        if re.fullmatch(r"(expansion|se_ratio)(_[1-9]\d*)?", name):
            where = "fixed" if name in space.fixed else "params"
            raise _err(space.source, f"{where}.{name}",
                       "shapes inverted residual blocks only, and no block of this space is "
                       "one; set conv = \"inverted\" (or conv_<i>) or remove it")


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
