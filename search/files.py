"""Run files on disk: written atomically (under a temporary name, then renamed, so a reader,
a report made during a search or a resumed run, never sees half a file), read back with an
exact account of what is wrong with a damaged one, and the one rule for names that become
file or folder names."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from search.errors import DamagedFile, UserError

#: Names that become a file or folder name (``--run-name``, a space's ``name``, a trial id):
#: letters, digits, '.', '_' and '-', starting with a letter or digit, so that no name can
#: leave its folder ('..', '/', an absolute path) or hide in it ('.name').
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
NAME_MAX = 100


def show(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: a message never grows with bad input."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_name(name: Any, what: str, max_len: int = NAME_MAX) -> str:
    """``name`` if it is safe as a file or folder name, else a :class:`UserError` that names
    ``what`` (``--run-name``, ``spaces/x.toml: name``) and the rule."""
    if not (isinstance(name, str) and len(name) <= max_len and _NAME.fullmatch(name)):
        raise UserError(f"{what} {show(name)}: use letters, digits, '.', '_' and '-' (up to "
                        f"{max_len}, starting with a letter or digit)")
    return name


def writable_folder(path: str | Path, what: str) -> Path:
    """``path`` if it is a folder this process can write into, or can create; else a
    :class:`UserError` naming ``what`` (a flag). Creates nothing."""
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is a file" if probe == path else f"is under {str(probe)!r}, a file"
        raise UserError(f"{what} {str(path)!r} {where}; expected a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        where = "" if probe == path else f" (its folder {str(probe)!r} is not)"
        raise UserError(f"{what} {str(path)!r} is not writable{where}; expected a folder this "
                        "user can write into")
    return path


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8, or bytes) to ``path``, creating its folder; a failed write
    leaves the old file, if any, and no temporary one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """``obj`` as indented JSON (numpy scalars as numbers, paths as strings), atomically."""
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# --- reading -------------------------------------------------------------------------------


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "a JSON object", list: "a list", str: "a string", bool: "true or false"}.get(
        type(value), "a number")


def read_json(path: str | Path, expect: type = dict) -> Any:
    """The JSON value in ``path``, which must be an ``expect`` (a JSON object by default).

    A damaged file raises :class:`DamagedFile` saying what is wrong: empty, not UTF-8,
    truncated, not JSON, the wrong JSON type, unreadable. A missing one raises
    FileNotFoundError, so callers decide what absence means.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise DamagedFile(path, "is a folder, expected a JSON file") from None
    except OSError as e:
        raise DamagedFile(path, f"cannot be read ({e.strerror or e})") from None
    if not raw.strip():
        raise DamagedFile(path, "is empty" if not raw else "holds only blank space")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DamagedFile(path, "is not UTF-8 text (garbage bytes)") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        truncated = e.pos >= len(text.rstrip()) or e.msg.startswith("Unterminated string")
        raise DamagedFile(path, "is truncated (its JSON stops before the end)" if truncated
                          else f"is not valid JSON (line {e.lineno}, column {e.colno}: "
                          f"{e.msg})") from None
    except (ValueError, RecursionError) as e:
        raise DamagedFile(path, f"is not valid JSON ({type(e).__name__})") from None
    if not isinstance(value, expect):
        raise DamagedFile(path, f"holds {_json_kind(value)}, expected "
                          f"{_json_kind(expect())}")
    return value


def _fits(value: Any, annotation: str) -> bool | None:
    """Whether a JSON value fits a dataclass field's annotation (None: not checked)."""
    kinds = [a.strip() for a in annotation.split("|")]
    for kind in kinds:
        base = kind.split("[", 1)[0]
        if base == "None" and value is None:
            return True
        if base == "str" and isinstance(value, str):
            return True
        if base == "bool" and isinstance(value, bool):
            return True
        if base == "int" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if base == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if base == "dict" and isinstance(value, dict):
            return True
        if base in ("list", "tuple") and isinstance(value, list):
            return True
        if base not in ("None", "str", "bool", "int", "float", "dict", "list", "tuple"):
            return None
    return False


def field_problem(schema: type | Mapping[str, str], data: Mapping[str, Any]) -> str | None:
    """What is wrong with ``data`` as the fields of ``schema`` (a dataclass, or names and
    annotations such as ``"int | None"``): the first field of the wrong JSON type, or None.
    Unknown keys and missing fields are not problems: files written by older or newer
    versions still load."""
    import dataclasses

    if isinstance(schema, Mapping):
        types = dict(schema)
    else:
        types = {f.name: f.type for f in dataclasses.fields(schema) if isinstance(f.type, str)}
    for name, annotation in types.items():
        if name not in data:
            continue
        value = data[name]
        if _fits(value, annotation) is False:
            return (f"{name!r} is {show(value, 40)} ({_json_kind(value)}), expected "
                    + " or ".join(_kind_text(k.strip()) for k in annotation.split("|")))
    return None


def _kind_text(kind: str) -> str:
    base = kind.split("[", 1)[0]
    return {"None": "null", "str": "a string", "bool": "true or false", "int": "a whole number",
            "float": "a number", "dict": "a JSON object", "list": "a list",
            "tuple": "a list"}.get(base, base)
