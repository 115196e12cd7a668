"""``Optimizer``: the base of every optimizer. It holds the Parameters, the learning rate and a per-parameter
state of ndarrays; ``optimizer(grads)`` (MindSpore) or ``optimizer.step(grads)`` (PyTorch, with the grads
passed in) updates every Parameter's array in place.

Gradients come in the order of the Parameters, as ``value_and_grad(fn, None, weights=params)`` returns them.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from softgrad._blas import axpy
from softgrad.tensor import Parameter, Tensor, concrete

_SCRATCH_BYTES = 1 << 17  # glibc's default mmap threshold: smaller temporaries come from its free lists


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


class Optimizer:
    """Base class: subclasses define ``update(array, grad, state)``, which changes ``array`` in place and
    keeps whatever it needs in the dict ``state`` (ndarrays only, so ``state_dict`` can store it).

    ``hyperparameters`` lists the constructor arguments saved by ``state_dict`` (besides ``lr``).
    """

    hyperparameters: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Parameter], lr: float):
        self.parameters = list(params)
        if not self.parameters:
            raise ValueError(f"{type(self).__name__}: got no parameters to optimise; pass "
                             "model.trainable_params()")
        for p in self.parameters:
            if not isinstance(p, Parameter):
                raise TypeError(f"{type(self).__name__}: expected Parameters, got {type(p).__name__}; pass "
                                "model.trainable_params()")
        if lr < 0:
            raise ValueError(f"{type(self).__name__}: lr must be >= 0, got {lr}")
        self.lr = float(lr)
        self.initial_lr = self.lr  # the base of learning-rate schedules
        self.step_count = 0
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.parameters]
        self._scratch: dict[tuple, np.ndarray] = {}  # see add_scaled

    def __call__(self, grads: Sequence) -> None:
        self.step(grads)

    def step(self, grads: Sequence) -> None:
        """Apply one update with ``grads`` (Tensors or ndarrays, one per Parameter, in order)."""
        grads = list(grads) if not isinstance(grads, Tensor) else [grads]
        if len(grads) != len(self.parameters):
            raise ValueError(f"{type(self).__name__}: got {len(grads)} gradient(s) for {len(self.parameters)} "
                             "parameter(s); pass the gradients of value_and_grad(fn, None, "
                             "weights=optimizer.parameters)")
        self.step_count += 1
        update = self.update
        for param, grad, state in zip(self.parameters, grads, self.state):
            g = concrete(grad)
            if not isinstance(g, np.ndarray):
                g = np.asarray(g)
            array = parameter_array(param)
            if g.shape != array.shape:
                raise ValueError(f"{type(self).__name__}: gradient of '{param.name}' has shape {g.shape}, "
                                 f"expected {array.shape}")
            update(array, g, state)

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
        states = state_dict["state"]
        if len(states) != len(self.parameters):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the saved state has {len(states)} "
                             f"parameter(s), this optimizer has {len(self.parameters)}")
        for param, state in zip(self.parameters, states):
            for name, array in state.items():
                if np.shape(array) != param.shape:
                    raise ValueError(f"{type(self).__name__}.load_state_dict: state '{name}' of '{param.name}' "
                                     f"has shape {np.shape(array)}, expected {param.shape}")
        self.lr = float(state_dict["lr"])
        self.initial_lr = float(state_dict.get("initial_lr", self.lr))
        self.step_count = int(state_dict["step_count"])
        for name, value in state_dict.get("hyperparameters", {}).items():
            setattr(self, name, tuple(value) if isinstance(value, list) else value)
        self.state = [{name: np.array(array, dtype=param.dtype) for name, array in state.items()}
                      for param, state in zip(self.parameters, states)]
