"""Gradient clipping by the global norm: MindSpore's ``clip_by_global_norm`` and PyTorch's ``clip_grad_norm_``.

softgrad's gradients are values (the tuple ``value_and_grad`` returns), not ``.grad`` attributes, so both return
the clipped gradients, for ``optimizer(clipped)``, and leave their input alone::

    loss, grads = loss_and_grads(x, y)
    grads, total_norm = optim.clip_grad_norm_(grads, max_norm=1.0)
    optimizer(grads)
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from softgrad._checks import check_bool, check_real
from softgrad.tensor import Tensor, concrete


def _gradient_arrays(owner: str, x) -> list[np.ndarray]:
    if isinstance(x, (Tensor, np.ndarray)) or not isinstance(x, (tuple, list)):
        raise TypeError(f"{owner}: the gradients must be a tuple or list of Tensors (as value_and_grad returns "
                        f"them), got {type(x).__name__} {x!r:.80}; wrap a single one as (g,)")
    arrays = []
    for i, g in enumerate(x):
        array = concrete(g)
        if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
            raise TypeError(f"{owner}: gradient {i} must be a floating-point Tensor or ndarray, got "
                            f"{type(g).__name__} {g!r:.80}")
        arrays.append(array)
    return arrays


def _norm(arrays: list[np.ndarray], p: float) -> float:
    """‖(x₁, x₂, …)‖_p over every entry of every array (float64): (Σ|x|ᵖ)^(1/p), or max |x| for p = inf."""
    if not arrays:
        return 0.0
    norms = np.array([np.linalg.norm(a.ravel().astype(np.float64, copy=False), p) if a.size else 0.0
                      for a in arrays])
    return float(np.linalg.norm(norms, p))


def _scaled(arrays: list[np.ndarray], factor: float) -> tuple[Tensor, ...]:
    return tuple(Tensor(a * a.dtype.type(factor)) for a in arrays)


def clip_by_global_norm(x, clip_norm: float = 1.0, use_norm=None) -> tuple[Tensor, ...]:
    """MindSpore's ``ops.clip_by_global_norm``: every gradient scaled by one factor so that together they have
    at most ``clip_norm`` as Euclidean norm,

        xᵢ ← xᵢ · clip_norm / max(‖x‖, clip_norm),    ‖x‖ = √(Σᵢ ‖xᵢ‖²)   (``use_norm``, if given, instead of ‖x‖)

    Returns a tuple of Tensors of the gradients' dtypes. MindSpore only takes ``use_norm=None``; a number here is
    the precomputed global norm, as TensorFlow's ``use_norm``.

    >>> import softgrad as sg
    >>> clipped = clip_by_global_norm((sg.Tensor([3.0]), sg.Tensor([4.0])), clip_norm=1.0)   # ‖x‖ = 5
    >>> [g.numpy() for g in clipped]
    [array([0.6], dtype=float32), array([0.8], dtype=float32)]
    """
    owner = "clip_by_global_norm"
    arrays = _gradient_arrays(owner, x)
    clip_norm = check_real(owner, "clip_norm", clip_norm, low_open=True)
    norm = _norm(arrays, 2.0) if use_norm is None else check_real(owner, "use_norm", use_norm)
    return _scaled(arrays, clip_norm / max(norm, clip_norm))


def clip_grad_norm_(grads, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> tuple[tuple[Tensor, ...], Tensor]:
    """PyTorch's ``torch.nn.utils.clip_grad_norm_`` on softgrad's gradient tuples: returns ``(clipped grads,
    total_norm)`` (PyTorch scales the ``.grad`` attributes in place and returns the norm; softgrad's gradients are
    the values ``value_and_grad`` returned, so the clipped ones come back as new Tensors, the input untouched):

        total_norm = ‖(g₁, g₂, …)‖_p  (p = norm_type, inf for max |g|),   gᵢ ← gᵢ · min(1, max_norm/(total_norm + 1e-6))

    ``total_norm`` is a 0-d Tensor (``float(total_norm)``, ``.item()``). A NaN or infinite total norm scales the
    gradients to NaN, as in PyTorch, or raises RuntimeError with ``error_if_nonfinite=True``.

    >>> import softgrad as sg
    >>> clipped, norm = clip_grad_norm_((sg.Tensor([3.0]), sg.Tensor([4.0])), max_norm=1.0)
    >>> float(norm), [g.numpy().round(6) for g in clipped]
    (5.0, [array([0.6], dtype=float32), array([0.8], dtype=float32)])
    """
    owner = "clip_grad_norm_"
    arrays = _gradient_arrays(owner, grads)
    max_norm = check_real(owner, "max_norm", max_norm)
    infinite = norm_type == "inf" if isinstance(norm_type, str) else isinstance(norm_type, numbers.Real) and \
        norm_type == math.inf
    p = math.inf if infinite else check_real(owner, "norm_type", norm_type, low_open=True)
    error_if_nonfinite = check_bool(owner, "error_if_nonfinite", error_if_nonfinite)
    total = _norm(arrays, p)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"{owner}: the total norm of order {p} of the gradients is {total}, so they cannot be "
                           "clipped; pass error_if_nonfinite=False to scale them by it anyway")
    dtype = np.result_type(*arrays) if arrays else np.float32
    factor = max_norm / (total + 1e-6)
    return _scaled(arrays, factor if not factor >= 1.0 else 1.0), Tensor(np.asarray(total, dtype=dtype))  # NaN stays


__all__ = ["clip_by_global_norm", "clip_grad_norm_"]
