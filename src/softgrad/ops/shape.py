"""Shape primitives: views and rearrangements. Each rule is the inverse rearrangement of ``g``."""

from __future__ import annotations

import numpy as np

from softgrad.ops._primitive import In, Sample, batch_shape, normalize_axis, op, python_data, refuse_batched, shape_of
from softgrad.tensor import Tensor, concrete, is_float_dtype, unwrap_index
from softgrad.trace import Primitive, batch_axes, constant_like


# ----- reshaping -----

reshape_p = Primitive("reshape", lambda x, shape: np.reshape(x, shape),
                      (lambda g, ans, x, shape: g.reshape(batch_shape(g, ans) + shape_of(x)),), batchable=True,
                      jvp=lambda ts, ans, x, shape: ts[0].reshape(batch_shape(ts[0], x) + shape_of(ans)),
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


def _transpose_jvp(tangents, ans, x, axes):
    """The same permutation of the tangent, after its batch axes."""
    t = tangents[0]
    order = range(len(shape_of(x)) - 1, -1, -1) if axes is None else axes
    lead = len(batch_shape(t, x))
    return t.transpose(tuple(range(lead)) + tuple(lead + int(a) for a in order))


transpose_p = Primitive("transpose", lambda x, axes: np.transpose(x, axes), (_transpose_vjp,), batchable=True,
                        jvp=_transpose_jvp,
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


def _concat_jvp(tangents, ans, *xs, axis):
    """The tangents joined the same way (zeros for the inputs without one), after their batch axes."""
    batch = next(batch_shape(t, x) for t, x in zip(tangents, xs) if t is not None)
    dtype = np.asarray(concrete(ans)).dtype
    pieces = [np.zeros(batch + shape_of(x), dtype) if t is None else t for t, x in zip(tangents, xs)]
    return _concat_primitive(len(xs)).bind(*pieces, axis=len(batch) + axis)


_CONCAT_PRIMITIVES: dict[int, Primitive] = {}


def _concat_primitive(n: int) -> Primitive:
    """concat of n inputs: one primitive per arity (``concat[n]``), so every input has its own rule (its slice
    of g)."""
    if n not in _CONCAT_PRIMITIVES:
        shapes = [(2, 1 + i % 3, 3) for i in range(n)]
        _CONCAT_PRIMITIVES[n] = Primitive(
            f"concat[{n}]", _concat_impl, tuple(_concat_piece_vjp(i) for i in range(n)), batchable=True,
            jvp=_concat_jvp, samples=[Sample(*(In(shape) for shape in shapes), axis=1)])
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


# getitem and untake are each other's transpose: the forward rule of one is the VJP of the other.
_INDICES = (1, slice(None), np.array([2, 0, 2]))
untake_p = Primitive("untake", _untake_impl, (_untake_vjp,), batchable=True,
                     jvp=lambda ts, ans, v, index, shape: _getitem_vjp(ts[0], v, ans, index),
                     samples=[Sample(In((3, 4)), index=_INDICES, shape=(2, 4, 3))])
getitem_p = Primitive("getitem", lambda x, index: x[index], (_getitem_vjp,), batchable=True,
                      jvp=lambda ts, ans, x, index: _untake_vjp(ts[0], x, ans, index, None),
                      samples=[Sample(In((2, 4, 3)), index=_INDICES), Sample(In((5,)), index=np.array([0, 0, 3]))])


@op(data=1)
def getitem(x, index):
    """x[index] with NumPy's basic, integer-array and boolean-mask indexing.  ∂: g scattered back, summed
    over repeated indices"""
    if isinstance(index, Tensor) and batch_axes(index) and np.asarray(concrete(index)).dtype.kind in "iu":
        return take(x, index, 0)  # x[i] inside vmap, i per example
    for part in index if isinstance(index, (tuple, list)) else (index,):
        if isinstance(part, Tensor):
            refuse_batched("indexing", part)
    return getitem_p.bind(x, index=unwrap_index(index))


@op(data=1)
def take(x, indices, axis=None):
    """Entries at ``indices`` along ``axis`` (of the flattened x when None), as ``np.take``."""
    if axis is None:
        return take(reshape(x, -1), indices, 0)
    if batch_axes(indices):  # inside vmap, per-example indices: the same gather as a take_along
        return _take_by_batched(x, indices, _axis("take", "axis", axis, len(shape_of(x))))
    indices = _int_indices(indices, "indices")
    index = [slice(None)] * len(shape_of(x))
    index[axis] = indices
    return getitem(x, tuple(index))


@op(data=1)
def gather(input_params, input_indices, axis=0):
    """MindSpore's ``ops.gather``: slices of ``input_params`` at ``input_indices`` along ``axis`` (= take)."""
    return take(input_params, input_indices, axis=axis)


def _take_by_batched(x, indices, axis):
    """np.take(x, indices, axis) as take_along_axis(x', i', axis): x' holds length-1 axes for the indices' other
    axes, i' for x's other axes, and broadcasting does the rest."""
    shape, index_shape = shape_of(x), shape_of(indices) or (1,)
    spread = reshape(x, shape[:axis + 1] + (1,) * (len(index_shape) - 1) + shape[axis + 1:])
    out = take_along_axis(spread, reshape(indices, (1,) * axis + index_shape + (1,) * (len(shape) - axis - 1)), axis)
    return out if shape_of(indices) else reshape(out, shape[:axis] + shape[axis + 1:])


def _put_along_impl(g, indices, axis, shape):
    """Zeros of ``shape`` with g added along ``axis`` at ``indices`` (repeats accumulate; axes of ``shape`` of
    length 1 that take_along broadcast receive the sum)."""
    g, indices = np.broadcast_arrays(g, indices)
    out = np.zeros(shape, dtype=g.dtype)
    grids = np.ogrid[tuple(slice(n) for n in g.shape)]
    index = tuple(indices if a == axis else grids[a] if shape[a] == g.shape[a] else 0 for a in range(g.ndim))
    np.add.at(out, index, g)
    return out


def _leading(indices, value, like):
    """(indices with length-1 axes for the leading (batch) axes ``value`` has beyond ``like``, their count)."""
    lead = len(shape_of(value)) - len(shape_of(like))
    return (indices.reshape((1,) * lead + shape_of(indices)) if lead else indices), lead


def _take_along_vjp(g, ans, x, indices, axis):
    index, lead = _leading(indices, g, ans)
    return put_along_p.bind(g, index, axis=axis + lead, shape=shape_of(g)[:lead] + shape_of(x))


def _take_along_jvp(ts, ans, x, indices, axis):
    index, lead = _leading(indices, ts[0], x)
    return take_along_p.bind(ts[0], index, axis=axis + lead)


def _put_along_vjp(h, ans, g, indices, axis, shape):
    index, lead = _leading(indices, h, ans)
    return take_along_p.bind(h, index, axis=axis + lead)


def _put_along_jvp(ts, ans, g, indices, axis, shape):
    index, lead = _leading(indices, ts[0], g)
    return put_along_p.bind(ts[0], index, axis=axis + lead, shape=shape_of(ts[0])[:lead] + tuple(shape))


_ALONG = np.array([[0, 2, 2, 1, 3], [3, 3, 0, 1, 1], [1, 0, 2, 3, 0]])
take_along_p = Primitive("take_along", lambda x, indices, axis: np.take_along_axis(x, indices, axis),
                         (_take_along_vjp, None), batchable=True, jvp=_take_along_jvp,
                         samples=[Sample(In((3, 4)), _ALONG, axis=1), Sample(In((2, 1)), _ALONG[:, :2] % 2, axis=0)])
put_along_p = Primitive("put_along", _put_along_impl, (_put_along_vjp, None), batchable=True, jvp=_put_along_jvp,
                        samples=[Sample(In((3, 5)), _ALONG, axis=1, shape=(3, 4)),
                                 Sample(In((3, 2)), _ALONG[:, :2] % 2, axis=0, shape=(2, 1))])


@op(data=1)
def take_along_axis(x, indices, axis):
    """``np.take_along_axis`` (PyTorch's ``gather``): out[..., i, ...] = x[..., indices[..., i, ...], ...]; the
    other axes of x and indices broadcast.  ∂/∂x: g added back at the indices (repeats accumulate)"""
    shape = shape_of(x)
    if not isinstance(indices, Tensor) or not indices.is_traced:
        indices = _int_indices(indices, "indices")
    elif not np.issubdtype(np.asarray(concrete(indices)).dtype, np.integer):  # inside vmap: per example
        raise TypeError(f"indices: expected integer indices, got dtype {np.asarray(concrete(indices)).dtype}")
    if len(shape_of(indices)) != len(shape):
        raise ValueError(f"take_along_axis: indices must have as many axes as x ({len(shape)}), got shape "
                         f"{shape_of(indices)}")
    return take_along_p.bind(x, indices, axis=_axis("take_along_axis", "axis", axis, len(shape)))


def _as_value(x):
    """A value as it is; Python data as ``Tensor(data)`` would make it (for a second data argument)."""
    return x if isinstance(x, (Tensor, np.ndarray, np.generic)) else python_data(x)


def _check_bounds(fn: str, name: str, index: np.ndarray, n: int, axis: int) -> None:
    if index.size and (index.min() < 0 or index.max() >= n):
        bad = index[(index < 0) | (index >= n)].flat[0]
        raise IndexError(f"{fn}: {name} must lie in [0, {n}) (the length of axis {axis}), got {bad}")


@op(data=1)
def scatter_add(input, dim, index, src):
    """PyTorch's ``scatter_add`` (MindSpore's ``tensor_scatter_elements(..., reduction='add')``): input with
    src[..., i, ...] added at [..., index[..., i, ...], ...] along ``dim`` (repeated indices add up; only
    src's leading ``index.shape`` block is read).  ∂/∂input = g, ∂/∂src = g gathered at index

    >>> scatter_add([0.0, 0.0, 0.0], 0, [0, 2, 0], [1.0, 2.0, 3.0])
    Tensor(shape=[3], dtype=Float32, value=
    [4., 0., 2.])
    """
    index, src = _int_indices(index, "scatter_add: index"), _as_value(src)
    shape, src_shape = shape_of(input), shape_of(src)
    dim = _axis("scatter_add", "dim", dim, len(shape))
    if not (index.ndim == len(shape) == len(src_shape)) or any(
            i > m or (d != dim and i > n) for d, (i, n, m) in enumerate(zip(index.shape, shape, src_shape))):
        raise ValueError(f"scatter_add: index must have input's and src's number of dimensions and fit inside src "
                         f"(and inside input except along dim), got index {index.shape}, input {shape}, "
                         f"src {src_shape}")
    _check_bounds("scatter_add", "index", index, shape[dim], dim)
    grids = np.ogrid[tuple(slice(n) for n in index.shape)]
    target = tuple(index if a == dim else grids[a] for a in range(len(shape)))
    block = getitem_p.bind(src, index=tuple(slice(n) for n in index.shape)) if index.shape != src_shape else src
    return input + untake_p.bind(block, index=target, shape=shape)


@op(data=1)
def index_add(x, indices, y, axis):
    """MindSpore's ``ops.index_add`` (PyTorch's ``index_add(input, dim, index, source)``): x with y's slice i
    added to x's slice ``indices[i]`` along ``axis`` (repeated indices add up).  ∂/∂x = g, ∂/∂y = g's slices
    at indices

    >>> index_add([[1.0, 1.0], [1.0, 1.0]], [1, 1], [[1.0, 2.0], [3.0, 4.0]], 0)
    Tensor(shape=[2, 2], dtype=Float32, value=
    [[1., 1.],
     [5., 7.]])
    """
    indices, y = _int_indices(indices, "index_add: indices"), _as_value(y)
    shape, y_shape = shape_of(x), shape_of(y)
    axis = _axis("index_add", "axis", axis, len(shape))
    expected = shape[:axis] + (len(indices),) + shape[axis + 1:] if indices.ndim == 1 else None
    if expected is None or y_shape != expected:
        raise ValueError(f"index_add: indices must be 1-D and y of x's shape with len(indices) along axis {axis}, "
                         f"got indices {indices.shape}, x {shape}, y {y_shape}")
    _check_bounds("index_add", "indices", indices, shape[axis], axis)
    target = tuple(indices if a == axis else slice(None) for a in range(len(shape)))
    return x + untake_p.bind(y, index=target, shape=shape)


def _int_indices(indices, name):
    refuse_batched(name, indices)
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
    labels = np.asarray(concrete(indices))  # (inside vmap: every example's, the vmap axes leading)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"one_hot: expected integer indices, got dtype {labels.dtype}")
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"one_hot: depth (the number of classes) must be an int ≥ 1, got {depth!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= depth):
        bad = labels[(labels < 0) | (labels >= depth)][0]
        raise ValueError(f"one_hot: indices must lie in [0, {depth}), got {bad}")
    return constant_like((labels[..., None] == np.arange(depth)).astype(dtype), indices)


# ----- dtype -----


def _astype_vjp(g, ans, x, dtype):
    return g.astype(x.dtype)


astype_p = Primitive("astype", lambda x, dtype: x.astype(dtype), (_astype_vjp,), batchable=True,
                     jvp=lambda ts, ans, x, dtype: ts[0].astype(dtype),
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
    return constant_like(concrete(x), x)


copy_p = Primitive("copy", np.copy, (lambda g, ans, x: g,), batchable=True,
                   jvp=lambda ts, ans, x: ts[0], samples=[Sample(In((2, 3)))])


@op
def copy(x):
    """A copy of x.  ∂/∂x = 1"""
    return copy_p.bind(x)


# ----- rearranging by index: pad, flip, roll, tile, repeat (composed from getitem and its scatter) -----


def _int_sequence(fn: str, name: str, value) -> tuple[int, ...]:
    """An int or a sequence of ints as a tuple."""
    values = (value,) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    if not isinstance(values, (tuple, list)) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{fn}: {name} must be an int or a sequence of ints, got {value!r}")
    return tuple(int(v) for v in values)


def _gathered(x, axis: int, index: np.ndarray):
    """x with its ``axis`` re-read at ``index`` (entries may repeat: their gradients add up)."""
    full = [slice(None)] * len(shape_of(x))
    full[axis] = index
    return getitem_p.bind(x, index=tuple(full))


_PAD_MODES = {"constant": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad_widths(shape, padding) -> list[tuple[int, int]]:
    """PyTorch's flat ``pad`` (last axis first: (left, right, top, bottom, ...)) as one (before, after) per axis."""
    padding = _int_sequence("pad", "padding", padding)
    if len(padding) % 2 or len(padding) // 2 > len(shape):
        raise ValueError(f"pad: padding must hold an even number of ints, two per padded axis from the last one "
                         f"back ((left, right, top, bottom, ...)), at most {2 * len(shape)} for this input of "
                         f"shape {shape}; got {padding}")
    widths = [(0, 0)] * len(shape)
    for k in range(len(padding) // 2):
        widths[len(shape) - 1 - k] = (padding[2 * k], padding[2 * k + 1])
    return widths


@op(data=1)
def pad(x, padding, mode="constant", value=None):
    """Pad (or, with negative widths, crop) the trailing axes, PyTorch's ``pad`` / MindSpore's ``ops.pad``:
    ``padding = (left, right)`` for the last axis, then (top, bottom) for the one before, ... ``mode``:
    'constant' (``value``, default 0), 'reflect' (mirror without the edge), 'replicate' (the edge),
    'circular' (wrap around).  ∂/∂x = g's inner part, plus the reflected / replicated / wrapped cells added
    back where they came from

    >>> pad([[1.0, 2.0]], (1, 2))
    Tensor(shape=[1, 5], dtype=Float32, value=
    [[0., 1., 2., 0., 0.]])
    >>> pad([[1.0, 2.0, 3.0]], (2, 1), mode='reflect')
    Tensor(shape=[1, 6], dtype=Float32, value=
    [[3., 2., 1., 2., 3., 2.]])
    """
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {tuple(_PAD_MODES)}, got {mode!r}")
    shape = shape_of(x)
    widths = _pad_widths(shape, padding)
    crop = tuple(slice(max(-before, 0), n - max(-after, 0)) for (before, after), n in zip(widths, shape))
    if any(stop - start < 0 for start, stop in ((c.start, c.stop) for c in crop)):
        raise ValueError(f"pad: negative padding {padding} crops more than the input's shape {shape}")
    if any(before < 0 or after < 0 for before, after in widths):
        x, shape = getitem_p.bind(x, index=crop), tuple(c.stop - c.start for c in crop)
        widths = [(max(before, 0), max(after, 0)) for before, after in widths]
    if mode != "constant":
        if value is not None:
            raise ValueError(f"pad: value={value!r} is only for mode='constant', got mode={mode!r}")
        for axis, ((before, after), n) in enumerate(zip(widths, shape)):
            if mode == "reflect" and max(before, after) >= n:
                raise ValueError(f"pad: reflect padding {(before, after)} must be smaller than the axis it pads "
                                 f"(axis {axis} of shape {shape})")
            if before or after:
                x = _gathered(x, axis, np.pad(np.arange(n), (before, after), mode=_PAD_MODES[mode]))
        return x
    inner = tuple(slice(before, before + n) for (before, _), n in zip(widths, shape))
    padded = tuple(n + before + after for (before, after), n in zip(widths, shape))
    out = untake_p.bind(x, index=inner, shape=padded)
    if value is None or value == 0:
        return out
    border = np.full(padded, value, dtype=np.asarray(concrete(x)).dtype)
    border[inner] = 0
    return out + border


@op(data=1)
def flip(x, dims):
    """x reversed along each axis of ``dims`` (PyTorch's and MindSpore's ``flip``).  ∂/∂x = g flipped back

    >>> flip([[1.0, 2.0, 3.0]], 1)
    Tensor(shape=[1, 3], dtype=Float32, value=
    [[3., 2., 1.]])
    """
    ndim = len(shape_of(x))
    axes = {_axis("flip", "dims", a, ndim) for a in _int_sequence("flip", "dims", dims)}
    return getitem_p.bind(x, index=tuple(slice(None, None, -1) if a in axes else slice(None) for a in range(ndim)))


@op(data=1)
def roll(x, shifts, dims=None):
    """x shifted cyclically by ``shifts`` along ``dims`` (of the flattened x when None), as ``torch.roll``:
    out[(i + s) mod n] = x[i].  ∂/∂x = g rolled by −s

    >>> roll([1.0, 2.0, 3.0], 1)
    Tensor(shape=[3], dtype=Float32, value=
    [3., 1., 2.])
    """
    shifts = _int_sequence("roll", "shifts", shifts)
    if dims is None:
        if len(shifts) != 1:
            raise ValueError(f"roll: without dims, shifts must be one int, got {shifts}")
        return reshape(roll(reshape(x, -1), shifts, 0), shape_of(x))
    axes = _int_sequence("roll", "dims", dims)
    if len(axes) != len(shifts):
        raise ValueError(f"roll: shifts and dims must have the same length, got shifts={shifts}, dims={axes}")
    for shift, axis in zip(shifts, axes):
        axis = _axis("roll", "dims", axis, len(shape_of(x)))
        x = _gathered(x, axis, np.roll(np.arange(shape_of(x)[axis]), shift))
    return x


@op(data=1)
def tile(x, dims):
    """x repeated ``dims[i]`` times along axis i (``torch.tile`` / ``mindspore.ops.tile``, ``np.tile``; PyTorch's
    ``Tensor.repeat`` is this). Fewer dims than axes repeat the trailing axes; more add leading axes.
    ∂/∂x = the sum of g over the copies

    >>> tile([1.0, 2.0], (2,))
    Tensor(shape=[4], dtype=Float32, value=
    [1., 2., 1., 2.])
    """
    reps = _int_sequence("tile", "dims", dims)
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: dims must be non-negative ints, got {reps}")
    shape = shape_of(x)
    shape = (1,) * (len(reps) - len(shape)) + tuple(shape)
    x = reshape(x, shape)
    reps = (1,) * (len(shape) - len(reps)) + reps
    for axis, (r, n) in enumerate(zip(reps, shape)):
        if r != 1:
            x = _gathered(x, axis, np.tile(np.arange(n), r))
    return x


@op(data=1)
def repeat(x, repeats, axis=None):
    """Each entry repeated ``repeats`` times along ``axis`` (of the flattened x when None): ``np.repeat``,
    MindSpore's ``Tensor.repeat`` and PyTorch's ``repeat_interleave`` (PyTorch's ``Tensor.repeat`` is ``tile``).
    ``repeats``: an int, or one count per entry.  ∂/∂x = the sum of g over each entry's copies

    >>> repeat([1.0, 2.0], 2)
    Tensor(shape=[4], dtype=Float32, value=
    [1., 1., 2., 2.])
    """
    if axis is None:
        return repeat(reshape(x, -1), repeats, 0)
    axis = _axis("repeat", "axis", axis, len(shape_of(x)))
    n = shape_of(x)[axis]
    counts = np.asarray(concrete(repeats))
    if not np.issubdtype(counts.dtype, np.integer) or counts.ndim > 1 or (counts < 0).any() \
            or counts.size not in (1, n):
        raise ValueError(f"repeat: repeats must be a non-negative int or {n} of them (one per entry along axis "
                         f"{axis}), got {repeats!r}")
    return _gathered(x, axis, np.repeat(np.arange(n), counts))


@op(data=1)
def repeat_interleave(input, repeats, dim=None):
    """PyTorch's name for ``repeat`` (``dim`` its axis)."""
    return repeat(input, repeats, axis=dim)


@op(data=0)
def cat(tensors, dim=0):
    """PyTorch's name for ``concat`` (``dim`` its axis).

    >>> cat([[1.0], [2.0]], dim=0)
    Tensor(shape=[2], dtype=Float32, value=
    [1., 2.])
    """
    return concat(tensors, axis=dim)


__all__ = [
    "reshape", "flatten", "transpose", "swapaxes", "expand_dims", "squeeze", "concat", "stack", "split", "getitem",
    "take", "gather", "take_along_axis", "one_hot", "astype", "stop_gradient", "copy", "pad", "flip", "roll", "tile",
    "repeat", "repeat_interleave", "cat", "scatter_add", "index_add",
]
