"""Argument checks shared across layers (a leaf: NumPy only): the ones every optimizer and schedule runs on its
hyperparameters, in the constructor and in ``load_state_dict`` alike, and ops' flags. Each raises naming the
owner, the argument, the expected and the actual value."""

from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np


def check_real(owner: str, name: str, value, low: float = 0.0, high: float = math.inf, *, low_open: bool = False,
               high_open: bool = False) -> float:
    """``value`` as a float, after checking that it is a real number (not a bool), finite, and within
    [low, high] (``low_open`` / ``high_open``: the bound itself excluded). NaN fails every check."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    inside = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not (math.isfinite(value) and inside):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open or high == math.inf else ']'}"
        raise ValueError(f"{owner}: {name} must be a finite number in {interval}, got {value!r}")
    return value


def check_integer(owner: str, name: str, value, low: int) -> int:
    """``value`` as an int, after checking that it is an integer (not a bool, not a float) and at least ``low``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an integer, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_bool(owner: str, name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_known_keys(owner: str, what: str, given, known: Sequence[str]) -> None:
    """Raise unless ``given`` (a dict) names only ``known`` keys."""
    if not isinstance(given, dict):
        raise TypeError(f"{owner}: {what} must be a dict, got {type(given).__name__} {given!r}")
    unknown = sorted(set(given) - set(known), key=str)
    if unknown:
        raise ValueError(f"{owner}: unknown {what} key(s) {unknown}; expected only {list(known)} (was it saved by "
                         "another optimizer or scheduler?)")


def check_choice(owner: str, name: str, value, choices: Sequence[str]) -> str:
    """``value``, after checking that it is one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{owner}: {name} must be one of {list(choices)}, got {value!r}")
    return value


def check_per_group(owner: str, name: str, value, groups: int, check) -> list:
    """One value per parameter group: ``value`` itself for every group, or a list of ``groups`` values (PyTorch's
    ``max_lr=[...]``, ``min_lr=[...]``); each goes through ``check(owner, name_i, value_i)``."""
    if not isinstance(value, (list, tuple)):
        return [check(owner, name, value)] * groups
    if len(value) != groups:
        raise ValueError(f"{owner}: {name} must be one number or a list of one per parameter group ({groups}), "
                         f"got {len(value)}: {value!r}")
    return [check(owner, f"{name}[{i}]", v) for i, v in enumerate(value)]


__all__ = ["check_real", "check_integer", "check_bool", "check_known_keys", "check_choice", "check_per_group"]
