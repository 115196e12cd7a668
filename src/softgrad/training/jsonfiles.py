"""The JSON of a run directory (config.json, metrics.json, a checkpoint's metadata): always strict JSON, read
with a bound, and checked field by field before anything trusts it.

Strict: a non-finite number (a diverged loss, an infinite test loss) is written as ``null`` — bare ``NaN`` and
``Infinity`` are not JSON, and strict parsers refuse them — and reading refuses them too.

>>> dumps({"loss": float("nan"), "history": [0.5, float("inf")]})
'{"loss": null, "history": [0.5, null]}'
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

from softgrad._files import read_bounded

MAX_JSON_BYTES = 16 << 20  # a run's config.json is ~1 kB, its metrics.json a few kB per epoch


def _finite_or_null(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(item) for item in value]
    return value


def dumps(value, indent: int | None = None) -> str:
    """``value`` as strict JSON, non-finite floats as null."""
    return json.dumps(_finite_or_null(value), indent=indent, allow_nan=False)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON (write null for a missing number)")


def loads(text: str | bytes, source) -> object:
    """Parse strict JSON (no NaN / Infinity); ValueError naming ``source`` if it is not."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{source}: not valid JSON ({error}); the file is damaged: restore or delete it") from None


def read(path: Path) -> object:
    """The JSON in the file at ``path``, read with a bound (see ``softgrad._files.read_bounded``)."""
    return loads(read_bounded(path, MAX_JSON_BYTES), path)


# ----- checking what was read -----

def _finite(value) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond float range
        return False


KINDS = {  # name -> (test, description)
    "int": (lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool), "an integer"),
    "number": (lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool) and _finite(v), "a finite number"),
    "number?": (lambda v: v is None or (isinstance(v, numbers.Real) and not isinstance(v, bool)), "a number or null"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "dict": (lambda v: isinstance(v, dict), "an object"),
}


def matches(value, kind: str) -> bool:
    """Whether ``value`` is of ``kind`` (a key of KINDS)."""
    return KINDS[kind][0](value)


def check(value, kind: str, where: str, minimum: float | None = None):
    """``value`` if it is of ``kind`` (a key of KINDS) and at least ``minimum``, else ValueError naming
    ``where``, the expected and the actual value."""
    if not matches(value, kind) or (minimum is not None and value is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(f"{where} must be {KINDS[kind][1]}{bound}, got {shown(value)}")
    return value


def field(container: dict, key: str, kind: str, where: str, minimum: float | None = None):
    """``container[key]`` checked as ``check`` does; ValueError if it is missing."""
    if key not in container:
        raise ValueError(f"{where}: '{key}' is missing")
    return check(container[key], kind, f"{where}: '{key}'", minimum)


def shown(value) -> str:
    """``value`` for an error message: its repr (which escapes control characters), cut at 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


__all__ = ["dumps", "loads", "read", "matches", "check", "field", "shown"]
