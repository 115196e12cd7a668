"""``Optimizer``: the base of every optimizer. It holds the Parameters, the learning rate and a per-parameter
state of ndarrays; ``optimizer(grads)`` (MindSpore) or ``optimizer.step(grads)`` (PyTorch, with the grads
passed in) updates every Parameter's array in place.

Gradients come in the order of the Parameters, as ``value_and_grad(fn, None, weights=params)`` returns them.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Sequence

import numpy as np

from softgrad._blas import axpy
from softgrad.tensor import Parameter, Tensor, concrete, is_column_major

_SCRATCH_BYTES = 1 << 17  # glibc's default mmap threshold: smaller temporaries come from its free lists
STATE_DICT_KEYS = ("lr", "initial_lr", "step_count", "hyperparameters", "state")


def parameter_array(param: Parameter) -> np.ndarray:
    """The ndarray a Parameter holds, for in-place updates. Only valid outside transforms."""
    if param._trace:
        raise TypeError(f"Parameter '{param.name}' is being differentiated; update it after value_and_grad "
                        "returns, not inside the function being differentiated")
    array = param._data
    flags = array.flags
    if not flags.writeable or not (flags.c_contiguous or flags.f_contiguous):
        array = param.set_data(np.ascontiguousarray(array).copy())._data
    return array


def state_array(values, like: np.ndarray) -> np.ndarray:
    """A new array of ``values`` with the dtype and the memory layout of the parameter array ``like``. Optimizer
    state always has its parameter's layout, whether made at the first step or restored from a checkpoint: the
    update then takes the same path (BLAS axpy needs equal layouts) and rounds the same way after a resume."""
    return np.array(values, dtype=like.dtype, order="F" if is_column_major(like) else "C")


# ----- checking hyperparameters (constructors and load_state_dict run the same checks) -----


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

class Optimizer:
    """Base class: subclasses define ``update(array, grad, state)``, which changes ``array`` in place and
    keeps whatever it needs in the dict ``state`` (ndarrays only, so ``state_dict`` can store it), and
    ``check_hyperparameters(**values)``, which checks the constructor arguments named in ``hyperparameters``
    (besides ``lr``) and returns them converted: the constructor and ``load_state_dict`` both go through it.
    ``state_names(hyperparameters)`` names what a stepped parameter's state holds.
    """

    hyperparameters: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Parameter], lr: float):
        name = type(self).__name__
        if isinstance(params, (Tensor, np.ndarray)):
            raise TypeError(f"{name}: params must be a list of Parameters, got one {type(params).__name__}; pass "
                            "model.trainable_params() or [param]")
        self.parameters = list(params)
        if not self.parameters:
            raise ValueError(f"{name}: got no parameters to optimise; pass model.trainable_params()")
        for p in self.parameters:
            if not isinstance(p, Parameter):
                raise TypeError(f"{name}: expected Parameters, got {type(p).__name__}; pass "
                                "model.trainable_params()")
        self.lr = check_real(name, "lr", lr)
        self.initial_lr = self.lr  # the base of learning-rate schedules
        self.step_count = 0
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.parameters]
        self._scratch: dict[tuple, np.ndarray] = {}  # see add_scaled

    def check_hyperparameters(self, **values) -> dict[str, Any]:
        """The ``hyperparameters`` checked and converted (ValueError/TypeError naming the bad one)."""
        return values

    def state_names(self, hyperparameters: dict[str, Any]) -> tuple[str, ...]:
        """The arrays a parameter's state holds after a step with these hyperparameters."""
        return ()

    def __call__(self, grads: Sequence | None = None) -> None:
        self.step(grads)

    def step(self, grads: Sequence | None = None) -> None:
        """Apply one update with ``grads`` (Tensors or ndarrays, one per Parameter, in order). Every gradient is
        checked before any Parameter changes."""
        arrays = [parameter_array(param) for param in self.parameters]
        grads = self._checked_gradients(grads, arrays)
        self.step_count += 1
        update = self.update
        for array, g, state in zip(arrays, grads, self.state):
            update(array, g, state)

    def _checked_gradients(self, grads, arrays: list[np.ndarray]) -> list[np.ndarray]:
        name, count = type(self).__name__, len(self.parameters)
        how = "value_and_grad(fn, None, weights=optimizer.parameters) returns them"
        if grads is None:
            raise TypeError(f"{name}.step() needs the gradients (Parameters hold no .grad in softgrad): call "
                            f"optimizer(grads) or optimizer.step(grads), with grads as {how}")
        if isinstance(grads, (Tensor, np.ndarray)):
            if count != 1:
                raise TypeError(f"{name}: got one {type(grads).__name__} of shape {grads.shape} as grads for "
                                f"{count} parameters; pass a tuple of {count} gradients, one per Parameter, as {how}")
            grads = [grads]
        elif isinstance(grads, (str, bytes, dict)) or not isinstance(grads, Iterable):
            raise TypeError(f"{name}: grads must be a tuple or list of gradients, one per Parameter, as {how}; got "
                            f"{type(grads).__name__} {grads!r:.80}")
        grads = list(grads)
        if len(grads) != count:
            raise ValueError(f"{name}: got {len(grads)} gradient(s) for {count} parameter(s); pass the gradients "
                             f"as {how}")
        checked = []
        for param, array, grad in zip(self.parameters, arrays, grads):
            g = concrete(grad)
            if not isinstance(g, np.ndarray):
                g = np.asarray(g) if isinstance(g, (np.generic, numbers.Number, list, tuple)) else None
            if g is None or g.dtype.kind not in "biuf":
                raise TypeError(f"{name}: the gradient of '{param.name}' must be a Tensor or ndarray of numbers, "
                                f"got {type(grad).__name__} {grad!r:.80}; pass the gradients as {how}")
            if g.shape != array.shape:
                raise ValueError(f"{name}: the gradient of '{param.name}' has shape {g.shape}, expected "
                                 f"{array.shape}")
            checked.append(g)
        return checked

    def update(self, array: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def add_scaled(self, array: np.ndarray, factor: float, x: np.ndarray) -> None:
        """array += factor·x, in place. A large array is updated in one pass by BLAS axpy where NumPy's OpenBLAS
        is reachable (softgrad._blas), else through a scratch array reused from step to step: glibc's malloc
        would map a large temporary afresh and page-fault it in every step."""
        if array.nbytes < _SCRATCH_BYTES:
            array += factor * x
        elif not axpy(factor, x, array):
            key = (array.shape, array.strides, array.dtype)
            scratch = self._scratch.get(key)
            if scratch is None:
                scratch = self._scratch[key] = np.empty_like(array)
            array += np.multiply(x, factor, out=scratch)

    # ----- saving and restoring -----

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: ``{'lr', 'initial_lr', 'step_count', 'hyperparameters',
        'state': [{name: ndarray}, ...]}`` (arrays are copies)."""
        return {
            "lr": self.lr,
            "initial_lr": self.initial_lr,
            "step_count": self.step_count,
            "hyperparameters": {name: getattr(self, name) for name in self.hyperparameters},
            "state": [{name: array.copy() for name, array in state.items()} for state in self.state],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore ``state_dict()``'s output, checked as the constructor checks its arguments: only known keys,
        finite hyperparameters in range, state arrays of the right names, shapes and finite values (each
        restored in its parameter's dtype and memory layout). Nothing changes unless all of it is valid."""
        owner = f"{type(self).__name__}.load_state_dict"
        check_known_keys(owner, "state_dict", state_dict, STATE_DICT_KEYS)
        missing = [key for key in ("lr", "step_count", "state") if key not in state_dict]
        if missing:
            raise ValueError(f"{owner}: the state_dict lacks {missing}; pass what optimizer.state_dict() returned")
        saved = state_dict.get("hyperparameters", {})
        check_known_keys(owner, "hyperparameters", saved, self.hyperparameters)
        current = {name: getattr(self, name) for name in self.hyperparameters}
        hyperparameters = self.check_hyperparameters(**dict(current, **saved))
        lr = check_real(owner, "lr", state_dict["lr"])
        initial_lr = check_real(owner, "initial_lr", state_dict.get("initial_lr", lr))
        step_count = check_integer(owner, "step_count", state_dict["step_count"], 0)
        states = self._checked_states(owner, state_dict["state"], self.state_names(hyperparameters))
        self.__dict__.update(hyperparameters)
        self.lr, self.initial_lr, self.step_count, self.state = lr, initial_lr, step_count, states

    def _checked_states(self, owner: str, states, names: tuple[str, ...]) -> list[dict[str, np.ndarray]]:
        if not isinstance(states, (list, tuple)) or len(states) != len(self.parameters):
            count = len(states) if isinstance(states, (list, tuple)) else type(states).__name__
            raise ValueError(f"{owner}: the saved state has {count} parameter(s), this optimizer has "
                             f"{len(self.parameters)}")
        restored = []
        for param, state in zip(self.parameters, states):
            if not isinstance(state, dict) or (state and sorted(state) != sorted(names)):
                got = sorted(state) if isinstance(state, dict) else repr(state)
                raise ValueError(f"{owner}: the state of '{param.name}' must be empty (before its first step) or "
                                 f"hold exactly {list(names)}, got {got}")
            arrays = {}
            for name, values in state.items():
                array = np.asarray(values)
                if array.shape != param.shape or array.dtype.kind not in "biuf":
                    raise ValueError(f"{owner}: state '{name}' of '{param.name}' must be numbers of shape "
                                     f"{param.shape}, got dtype {array.dtype} and shape {array.shape}")
                if not np.isfinite(array).all():
                    raise ValueError(f"{owner}: state '{name}' of '{param.name}' holds non-finite values "
                                     f"({array[~np.isfinite(array)].flat[0]!r} first); the checkpoint is damaged "
                                     "or comes from a run that diverged")
                arrays[name] = state_array(array, param._data)
            restored.append(arrays)
        return restored
