"""Data-parallel training across processes (MindSpore's ``nn.DistributedGradReducer``): every rank computes the
gradients of its shard of the batch, one allreduce sums them, and every rank applies the same update, so the
weights stay identical if they start identical — which ``broadcast_parameters`` and ``broadcast_optimizer_state``
make them, from rank 0.

One fused buffer per step: the gradients are copied into one contiguous array (allocated once) and reduced
by a single allreduce, not one message per Parameter — a network of 8 layers would otherwise pay 16 latencies
per step. Small values the ranks must agree on (the loss, counts, a stop request) ride in the same message.

Without a launcher (one process) the reducer returns the gradients as they are.

>>> import softgrad as sg
>>> layer = sg.nn.Dense(3, 2, weight_init='ones', bias_init='zeros')
>>> reducer = DistributedGradReducer(layer.trainable_params())
>>> grads = (np.ones((2, 3), np.float32), np.zeros(2, np.float32))   # one process: the mean of one
>>> [g.shape for g in reducer(grads)], reducer.bytes_per_step
([(2, 3), (2,)], 32)
"""

from __future__ import annotations

import time

import numpy as np

from softgrad import communication
from softgrad.tensor import Parameter, Tensor, is_column_major


def _views(buffer: np.ndarray, parameters) -> list[np.ndarray]:
    """One view of ``buffer`` per Parameter, in its shape and memory order (a column-major Dense weight gets a
    column-major view, so the optimizer's in-place update sees the layout it expects)."""
    views, start = [], 0
    for param in parameters:
        view = buffer[start:start + param.size].reshape(param.shape, order="F" if is_column_major(param) else "C")
        views.append(view)
        start += param.size
    return views


def _fused_buffer(parameters, extra: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    dtype = np.result_type(*(param.dtype for param in parameters)) if parameters else np.float32
    buffer = np.zeros(sum(param.size for param in parameters) + extra, dtype=dtype)
    return buffer, _views(buffer, parameters)


def _checked_parameters(owner: str, parameters) -> list[Parameter]:
    parameters = [parameters] if isinstance(parameters, Parameter) else list(parameters)
    for i, param in enumerate(parameters):
        if not isinstance(param, Parameter):
            raise TypeError(f"{owner}: parameters[{i}] must be a Parameter, got {type(param).__name__}; pass "
                            "cell.trainable_params() (or optimizer.parameters)")
    return parameters


class DistributedGradReducer:
    """``reducer(grads)``: the gradients (one per Parameter, in order) averaged over the ranks (``mean=True``) or
    summed, as views of one buffer reduced by one allreduce; they stay valid until the next call.

    ``reduce(grads, scalars, weight)`` also sums ``scalars`` (numbers) in the same message and weights each
    rank's gradients by ``weight``: with ``mean``, the result is Σ weightᵢ·gᵢ / Σ weightᵢ, so ranks whose shards
    hold different numbers of samples (the last batch of an epoch) still give exactly the gradient of the mean
    loss over the whole batch, when ``weight`` is the rank's sample count and ``gᵢ`` the gradient of its mean.
    ``seconds`` and ``calls`` accumulate the time spent in the allreduce."""

    def __init__(self, parameters, mean: bool = True):
        if not isinstance(mean, (bool, np.bool_)):
            raise TypeError(f"DistributedGradReducer: mean must be True or False, got {type(mean).__name__} "
                            f"{mean!r}")
        self.parameters = _checked_parameters("DistributedGradReducer", parameters)
        self.mean = bool(mean)
        self.group_size = communication.get_group_size()
        self.seconds, self.calls = 0.0, 0
        self._buffer, self._views = _fused_buffer(self.parameters)
        self._gradient_size = self._buffer.size

    @property
    def bytes_per_step(self) -> int:
        """The bytes each rank sends into one allreduce of the gradients."""
        return self._buffer.nbytes

    def __call__(self, grads):
        return self.reduce(grads)[0]

    def reduce(self, grads, scalars=(), weight: float = 1.0) -> tuple[tuple[np.ndarray, ...], tuple[float, ...]]:
        """(the reduced gradients, ``scalars`` summed over the ranks) from one allreduce."""
        if self.group_size == 1 and not scalars:
            return tuple(grads), ()
        grads = tuple(grads)
        if len(grads) != len(self._views):
            raise ValueError(f"DistributedGradReducer: expected {len(self._views)} gradients, one per Parameter, got "
                             f"{len(grads)}")
        buffer = self._sized_buffer(len(scalars) + 1)
        for view, g, param in zip(self._views, grads, self.parameters):
            value = g.numpy() if isinstance(g, Tensor) else np.asarray(g)
            if value.shape != view.shape:
                raise ValueError(f"DistributedGradReducer: the gradient of '{param.name}' has shape {value.shape}, "
                                 f"expected the Parameter's {view.shape}")
            np.multiply(value, weight, out=view)
        tail = buffer[self._gradient_size:]
        tail[:-1], tail[-1] = scalars, weight
        start = time.perf_counter()
        communication.allreduce_sum_(buffer)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        if self.mean:
            buffer[:self._gradient_size] /= tail[-1]
        return tuple(self._views), tuple(float(s) for s in tail[:-1])

    def _sized_buffer(self, extra: int) -> np.ndarray:
        """The fused buffer with room for ``extra`` scalars after the gradients (reallocated when that changes)."""
        if self._buffer.size != self._gradient_size + extra:
            self._buffer, self._views = _fused_buffer(self.parameters, extra)
        return self._buffer


def broadcast_parameters(parameters, root: int = 0) -> None:
    """Give every rank rank ``root``'s values of ``parameters`` (all of a cell's, moving averages included:
    ``cell.get_parameters()``), in one fused broadcast."""
    parameters = _checked_parameters("broadcast_parameters", parameters)
    if communication.get_group_size() == 1 or not parameters:
        return
    buffer, views = _fused_buffer(parameters)
    for view, param in zip(views, parameters):
        view[...] = param.numpy()
    communication.broadcast_(buffer, root)
    for view, param in zip(views, parameters):
        param.set_data(view)


def broadcast_optimizer_state(optimizer, root: int = 0) -> None:
    """Give every rank rank ``root``'s optimizer state (momenta, step count, learning rate), through its
    ``state_dict()`` / ``load_state_dict()``."""
    if communication.get_group_size() == 1:
        return
    state = communication.broadcast_object(optimizer.state_dict() if communication.get_rank() == root else None,
                                           root)
    optimizer.load_state_dict(state)


__all__ = ["DistributedGradReducer", "broadcast_parameters", "broadcast_optimizer_state"]
