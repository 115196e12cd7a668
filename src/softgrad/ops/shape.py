"""Shape primitives: views and rearrangements. Each rule is the inverse rearrangement of ``g``."""

from __future__ import annotations

import numpy as np

from softgrad.ops._primitive import In, Sample, batch_shape, normalize_axis, op, python_data, shape_of
from softgrad.tensor import Tensor, concrete, is_float_dtype, unwrap_index
from softgrad.trace import Primitive


# ----- reshaping -----

reshape_p = Primitive("reshape", lambda x, shape: np.reshape(x, shape),
                      (lambda g, ans, x, shape: g.reshape(batch_shape(g, ans) + shape_of(x)),), batchable=True,
                      samples=[Sample(In((2, 3, 4)), shape=(4, 6)), Sample(In((6,)), shape=(3, 1, 2))])


@op
def reshape(x, *shape):
    """x with a new shape (−1 infers one dimension); a view when NumPy can make one.  ∂: reshape g back"""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = tuple(shape[0])
    return reshape_p.bind(x, shape=tuple(int(n) for n in shape))


@op
def flatten(x, start_dim=0, end_dim=-1):
    """Merge dimensions ``start_dim..end_dim`` into one (PyTorch's defaults: everything)."""
    shape = shape_of(x)
    if not shape:
        return reshape(x, (1,))
    start = _axis("flatten", "start_dim", start_dim, len(shape))
    end = _axis("flatten", "end_dim", end_dim, len(shape))
    if start > end:
        raise ValueError(f"flatten: start_dim={start_dim} comes after end_dim={end_dim} for shape {shape}")
    return reshape(x, shape[:start] + (-1,) + shape[end + 1:])


def _axis(fn: str, name: str, axis, ndim: int) -> int:
    """``axis`` as a non-negative int, checked to lie in [−ndim, ndim)."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{fn}: {name} must be an int, got {type(axis).__name__} {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{fn}: {name}={axis} is out of range for an input of {ndim} dimension(s); use an axis "
                         f"in [{-ndim}, {ndim - 1}]")
    return int(axis) % ndim


def _transpose_vjp(g, ans, x, axes):
    """The inverse permutation, after g's batch axes."""
    ndim = len(shape_of(x))
    inverse = np.argsort(axes) if axes is not None else range(ndim - 1, -1, -1)
    lead = len(batch_shape(g, ans))
    return g.transpose(tuple(range(lead)) + tuple(lead + int(a) for a in inverse))


transpose_p = Primitive("transpose", lambda x, axes: np.transpose(x, axes), (_transpose_vjp,), batchable=True,
                        samples=[Sample(In((2, 3, 4)), axes=(2, 0, 1)), Sample(In((2, 3)), axes=None)])


@op
def transpose(x, *axes):
    """Permute the axes (reverse them when none are given).  ∂: the inverse permutation of g"""
    if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
        axes = axes[0]
    if axes is not None and len(axes):
        ndim = len(shape_of(x))
        axes = tuple(_axis("transpose", "axes", a, ndim) for a in axes)
        if sorted(axes) != list(range(ndim)):
            raise ValueError(f"transpose: axes {tuple(axes)} must be a permutation of the {ndim} axes of an input "
                             f"of shape {shape_of(x)}, e.g. {tuple(reversed(range(ndim)))}")
    return transpose_p.bind(x, axes=axes or None)


@op(data=1)
def swapaxes(x, axis1, axis2):
    """Exchange two axes.  ∂: exchange them back"""
    ndim = len(shape_of(x))
    axis1, axis2 = _axis("swapaxes", "axis1", axis1, ndim), _axis("swapaxes", "axis2", axis2, ndim)
    axes = list(range(ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, axes)


@op(data=1)
def expand_dims(x, axis):
    """Insert a length-1 axis at ``axis``."""
    shape = list(shape_of(x))
    shape.insert(_axis("expand_dims", "axis", axis, len(shape) + 1), 1)
    return reshape(x, shape)


@op
def squeeze(x, axis=None):
    """Remove length-1 axes (all of them, or those in ``axis``, which must have length 1)."""
    shape = shape_of(x)
    axes = normalize_axis(axis, len(shape))
    if axes is None:
        axes = tuple(i for i, n in enumerate(shape) if n == 1)
    for a in axes:
        if shape[a] != 1:
            raise ValueError(f"squeeze: axis {a} has length {shape[a]}, expected 1 (shape {shape})")
    return reshape(x, tuple(n for i, n in enumerate(shape) if i not in axes))


# ----- joining and splitting -----


def _concat_impl(*xs, axis):
    return np.concatenate(xs, axis=axis)


def _concat_piece_vjp(i):
    def vjp(g, ans, *xs, axis):
        start = int(np.sum([shape_of(x)[axis] for x in xs[:i]], dtype=np.int64))
        lead = len(batch_shape(g, ans))
        index = [slice(None)] * (lead + len(shape_of(ans)))
        index[lead + axis] = slice(start, start + shape_of(xs[i])[axis])
        return getitem_p.bind(g, index=tuple(index))

    return vjp


_CONCAT_PRIMITIVES: dict[int, Primitive] = {}


def _concat_primitive(n: int) -> Primitive:
    """concat of n inputs: one primitive per arity (``concat[n]``), so every input has its own rule (its slice
    of g)."""
    if n not in _CONCAT_PRIMITIVES:
        shapes = [(2, 1 + i % 3, 3) for i in range(n)]
        _CONCAT_PRIMITIVES[n] = Primitive(
            f"concat[{n}]", _concat_impl, tuple(_concat_piece_vjp(i) for i in range(n)), batchable=True,
            samples=[Sample(*(In(shape) for shape in shapes), axis=1)])
    return _CONCAT_PRIMITIVES[n]


_concat_primitive(2)  # (made on import, so the registry's test covers the family)


def _joined_values(fn: str, tensors) -> list:
    """The values to join, Python data among them converted as ``Tensor(data)`` would when none is a value."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{fn}: expected at least one tensor, got an empty sequence")
    if not any(isinstance(t, (Tensor, np.ndarray, np.generic)) for t in tensors):
        tensors = [python_data(t) for t in tensors]
    return tensors


@op(data=0)
def concat(tensors, axis=0):
    """Join along an existing axis.  ∂xᵢ = the slice of g that xᵢ filled"""
    tensors = _joined_values("concat", tensors)
    shapes = [shape_of(t) for t in tensors]
    if not shapes[0]:
        raise ValueError("concat: 0-d values have no axis to join along; use stack")
    axis = _axis("concat", "axis", axis, len(shapes[0]))
    others = {s[:axis] + s[axis + 1:] for s in shapes}
    if len(others) > 1 or len({len(s) for s in shapes}) > 1:
        raise ValueError(f"concat: the shapes must agree except along axis {axis}, got {shapes}")
    return _concat_primitive(len(tensors)).bind(*tensors, axis=axis)


@op(data=0)
def stack(tensors, axis=0):
    """Join along a new axis (all shapes equal).  ∂xᵢ = g's i-th slice along ``axis``"""
    tensors = _joined_values("stack", tensors)
    shapes = {shape_of(t) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    if not any(isinstance(t, Tensor) and t.is_traced for t in tensors):  # constants: one NumPy call
        return np.stack([concrete(t) for t in tensors], axis=axis)
    return concat([expand_dims(t, axis) for t in tensors], axis=axis)


@op(data=1)
def split(x, sections, axis=0):
    """Split into ``sections`` equal parts (an int) or at the given indices (a list), as ``np.split``."""
    length = shape_of(x)[axis]
    if isinstance(sections, (int, np.integer)):
        if length % sections:
            raise ValueError(f"split: axis {axis} has length {length}, not divisible into {sections} sections")
        bounds = list(range(0, length + 1, length // sections))
    else:
        bounds = [0, *sections, length]
    index = [slice(None)] * len(shape_of(x))
    pieces = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        index[axis] = slice(start, stop)
        pieces.append(getitem(x, tuple(index)))
    return tuple(pieces)


# ----- indexing -----


def _untake_impl(g, index, shape):
    """Zeros of ``shape`` with g added at ``index`` (repeated indices accumulate)."""
    out = np.zeros(shape, dtype=g.dtype)
    np.add.at(out, index, g)
    return out


def _batched_index(index, lead: int):
    """``index`` for an array with ``lead`` extra leading axes, or None where NumPy would then reorder the
    result's axes (advanced indices that are not adjacent move to the front)."""
    parts = index if isinstance(index, tuple) else (index,)
    advanced = [i for i, part in enumerate(parts) if not isinstance(part, (slice, type(None), type(Ellipsis)))]
    has_array = any(isinstance(parts[i], (np.ndarray, list)) for i in advanced)
    if has_array and advanced != list(range(advanced[0], advanced[0] + len(advanced))):
        return None
    return (slice(None),) * lead + parts


def _per_batch_row(fn, g, ans):
    """fn applied to each batch row of g, stacked (for the indices that cannot take the batch axes)."""
    lead = len(batch_shape(g, ans))
    flat = g.reshape((-1,) + shape_of(g)[lead:])
    rows = [fn(flat[b]) for b in range(shape_of(flat)[0])]
    return stack(rows).reshape(shape_of(g)[:lead] + shape_of(rows[0])) if rows else None


def _untake_vjp(g, ans, v, index, shape):
    lead = len(batch_shape(g, ans))
    if not lead:
        return getitem_p.bind(g, index=index)
    batched = _batched_index(index, lead)
    if batched is None:
        return _per_batch_row(lambda row: getitem_p.bind(row, index=index), g, ans)
    return getitem_p.bind(g, index=batched)


def _getitem_vjp(g, ans, x, index):
    batch = batch_shape(g, ans)
    if not batch:
        return untake_p.bind(g, index=index, shape=shape_of(x))
    batched = _batched_index(index, len(batch))
    if batched is None:
        return _per_batch_row(lambda row: untake_p.bind(row, index=index, shape=shape_of(x)), g, ans)
    return untake_p.bind(g, index=batched, shape=batch + shape_of(x))


_INDICES = (1, slice(None), np.array([2, 0, 2]))
untake_p = Primitive("untake", _untake_impl, (_untake_vjp,), batchable=True,
                     samples=[Sample(In((3, 4)), index=_INDICES, shape=(2, 4, 3))])
getitem_p = Primitive("getitem", lambda x, index: x[index], (_getitem_vjp,), batchable=True,
                      samples=[Sample(In((2, 4, 3)), index=_INDICES), Sample(In((5,)), index=np.array([0, 0, 3]))])


@op(data=1)
def getitem(x, index):
    """x[index] with NumPy's basic, integer-array and boolean-mask indexing.  ∂: g scattered back, summed
    over repeated indices"""
    return getitem_p.bind(x, index=unwrap_index(index))


@op(data=1)
def take(x, indices, axis=None):
    """Entries at ``indices`` along ``axis`` (of the flattened x when None), as ``np.take``."""
    indices = _int_indices(indices, "indices")
    if axis is None:
        return getitem(reshape(x, -1), indices)
    index = [slice(None)] * len(shape_of(x))
    index[axis] = indices
    return getitem(x, tuple(index))


@op(data=1)
def gather(input_params, input_indices, axis=0):
    """MindSpore's ``ops.gather``: slices of ``input_params`` at ``input_indices`` along ``axis`` (= take)."""
    return take(input_params, input_indices, axis=axis)


@op(data=1)
def take_along_axis(x, indices, axis):
    """``np.take_along_axis`` (PyTorch's ``gather``): out[..., i, ...] = x[..., indices[..., i, ...], ...]."""
    indices = _int_indices(indices, "indices")
    shape = shape_of(x)
    axis %= len(shape)
    grids = np.ogrid[tuple(slice(n) for n in indices.shape)]
    index = tuple(indices if a == axis else grids[a] for a in range(len(shape)))
    return getitem(x, index)


def _int_indices(indices, name):
    array = np.asarray(concrete(indices))
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name}: expected integer indices, got dtype {array.dtype}")
    return array


@op(data=0)
def one_hot(indices, depth, dtype=np.float32):
    """e_{indices} along a new last axis of length ``depth``; indices must lie in [0, depth).

    >>> one_hot([2, 0], 3)
    Tensor(shape=[2, 3], dtype=Float32, value=
    [[0., 0., 1.],
     [1., 0., 0.]])
    """
    labels = _int_indices(indices, "indices")
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"one_hot: depth (the number of classes) must be an int ≥ 1, got {depth!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= depth):
        bad = labels[(labels < 0) | (labels >= depth)][0]
        raise ValueError(f"one_hot: indices must lie in [0, {depth}), got {bad}")
    return (labels[..., None] == np.arange(depth)).astype(dtype)


# ----- dtype -----


def _astype_vjp(g, ans, x, dtype):
    return g.astype(x.dtype)


astype_p = Primitive("astype", lambda x, dtype: x.astype(dtype), (_astype_vjp,), batchable=True,
                     samples=[Sample(In((2, 3)), dtype=np.dtype(np.float64))])


@op(data=1)
def astype(x, dtype):
    """x converted to ``dtype``.  ∂: g converted back (conversion to a non-float dtype is not traced)"""
    dtype = np.dtype(dtype)
    if not is_float_dtype(dtype) and isinstance(x, Tensor):
        return concrete(x).astype(dtype)
    return astype_p.bind(x, dtype=dtype)


@op
def stop_gradient(x):
    """x as a constant: no gradient flows through it, in any transform at any nesting depth."""
    return concrete(x)


copy_p = Primitive("copy", np.copy, (lambda g, ans, x: g,), batchable=True, samples=[Sample(In((2, 3)))])


@op
def copy(x):
    """A copy of x.  ∂/∂x = 1"""
    return copy_p.bind(x)
