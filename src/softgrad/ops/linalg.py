"""Linear algebra: ``matmul`` with exactly NumPy's rules (1-D operands promoted, batch dims broadcast),
and ``dot``/``outer`` composed from it (batch-dim broadcasting in the rules is undone by the engine); the
triangles ``tril``/``triu``, ``diag`` and ``trace``, composed from indexing and ``where``; ``einsum``; ``norm`` and
``matrix_norm``; ``inv``, ``solve``, ``det``, ``slogdet``; the factorizations ``cholesky``, ``qr``, ``svd``,
``svdvals`` (``torch.linalg``'s, as ``softgrad.ops.linalg``)."""

from __future__ import annotations

import numpy as np

from softgrad._checks import check_bool, check_choice
from softgrad.ops._primitive import (
    In, Sample, aligned, batch_shape, kept_shape, multilinear, normalize_axis, op, shape_of,
)
from softgrad import _parallel as parallel
from softgrad.ops.elementwise import abs, sign_p, where_p
from softgrad.ops.reductions import _spread, broadcast_to_p, reduction_jvp, sum_p, sum
from softgrad.ops.reductions import max as max_of, min as min_of  # max, min: the builtins are used below
from softgrad.ops.shape import _joined_values, concat, getitem_p, reshape, squeeze, transpose, untake_p
from softgrad.tensor import Tensor, concrete, is_column_major, wrap
from softgrad.trace import Primitive


def _col(v):
    return v.reshape(shape_of(v) + (1,))


def _row(v):
    shape = shape_of(v)
    return v.reshape(shape[:-1] + (1, shape[-1]))


def _mT(v):
    return v.swapaxes(-1, -2)


def _column_major_matrix(v, g) -> bool:
    """Whether the 2-D operand v is stored column-major (a transposed view, as ``w.T`` of a weight w) and g, the
    product's cotangent, is 2-D too (no batch axes): its cotangent is then made column-major as well, (Bᵀ Aᵀ)ᵀ
    for A B, the same GEMM with the roles swapped, so that it has v's layout (PyTorch's mm backward does the
    same): an optimizer's update of w then reads it row by row (0.5 ms, not 2.9, for a 128×9216 weight)."""
    return len(shape_of(g)) == 2 and len(shape_of(v)) == 2 and is_column_major(v)


def _matmul_vjp_x(g, ans, x, y):
    """∂(x@y)/∂x: g @ yᵀ, with 1-D operands handled as NumPy promotes them. (Every case also takes a g with
    leading batch axes: batched matmul broadcasts them.)"""
    x_vector, y_vector = len(shape_of(x)) == 1, len(shape_of(y)) == 1
    if y_vector:  # x (..., n, k) @ y (k,) = (..., n); both vectors: a scalar times y
        return _col(g) * y
    if x_vector and len(shape_of(y)) == 2:  # g (..., m) @ yᵀ: one GEMM for every batch row
        return matmul_p.bind(g, _mT(y))
    if x_vector:  # x (k,) @ y (..., k, m) = (..., m)
        return matmul_p.bind(y, _col(g)).reshape(shape_of(g)[:-1] + shape_of(y)[-2:-1])
    if _column_major_matrix(x, g):
        return _mT(matmul_p.bind(y, _mT(g)))
    return matmul_p.bind(g, _mT(y))


def _matmul_vjp_y(g, ans, x, y):
    """∂(x@y)/∂y: xᵀ @ g, with 1-D operands handled as NumPy promotes them."""
    x_vector, y_vector = len(shape_of(x)) == 1, len(shape_of(y)) == 1
    if x_vector and y_vector:
        return _col(g) * x
    if x_vector:  # (..., m) → (..., k, m)
        return _col(x) * _row(g)
    if y_vector and len(shape_of(x)) == 2:  # g (..., n) @ x (n, k): one GEMM for every batch row
        return matmul_p.bind(g, x)
    if y_vector:  # g (..., n), x (..., n, k) → (..., k)
        return matmul_p.bind(_row(g), x).reshape(shape_of(g)[:-1] + shape_of(x)[-1:])
    if _column_major_matrix(y, g):
        return _mT(matmul_p.bind(_mT(g), x))
    return matmul_p.bind(_mT(x), g)


def _matmul_jvp(tangents, ans, x, y):
    """(x@y)˙ = ẋ@y + x@ẏ, a vector operand taken as a row (x) or a column (y), its tangent's batch axes
    (Primitive.batchable) put in front of the broadcast batch axes of the product."""
    x_vector, y_vector = len(shape_of(x)) == 1, len(shape_of(y)) == 1
    xm, ym = _row(x) if x_vector else x, _col(y) if y_vector else y
    ndim = max(len(shape_of(xm)), len(shape_of(ym)))
    tx, ty = tangents
    terms = []
    if tx is not None:
        if x_vector and len(shape_of(y)) == 2:  # ẋ (..., k) @ y: one GEMM for every batch row
            term = matmul_p.bind(tx, y)
        else:
            term = matmul_p.bind(aligned(_row(tx) if x_vector else tx, xm, ndim), ym)
        terms.append(term.reshape(batch_shape(tx, x) + shape_of(ans)))
    if ty is not None:
        if y_vector and len(shape_of(x)) == 2:  # (x ẏ)ᵀ = ẏ (..., k) @ xᵀ
            term = matmul_p.bind(ty, _mT(x))
        else:
            term = matmul_p.bind(xm, aligned(_col(ty) if y_vector else ty, ym, ndim))
        terms.append(term.reshape(batch_shape(ty, y) + shape_of(ans)))
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


MATMUL_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 1, 2, 3), (4, 3, 2)),
                 ((3,), (2, 3, 2))]
matmul_p = Primitive("matmul", parallel.matmul, (_matmul_vjp_x, _matmul_vjp_y), batchable=True,
                     jvp=_matmul_jvp, samples=[Sample(In(x), In(y)) for x, y in MATMUL_SHAPES])


@op
def matmul(x, y):
    """x @ y by NumPy's rules (1-D, 2-D, batched with broadcasting).  ∂/∂x = g yᵀ, ∂/∂y = xᵀ g

    >>> matmul([[1.0, 2.0]], [[3.0], [4.0]])
    Tensor(shape=[1, 1], dtype=Float32, value=
    [[11.]])
    """
    x_shape, y_shape = shape_of(x), shape_of(y)
    if not x_shape or not y_shape:
        raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes {x_shape} and {y_shape}; "
                         "use mul (or *) to scale by a scalar")
    k_x = x_shape[-1]
    k_y = y_shape[-2] if len(y_shape) > 1 else y_shape[0]
    if k_x != k_y:
        raise ValueError(f"matmul: inner dimensions differ: x has shape {x_shape}, y has shape {y_shape} "
                         f"({k_x} != {k_y})")
    return matmul_p.bind(x, y)


@op
def dot(a, b):
    """``np.dot``: scalar × array, matrix product for ≤ 2-D, and for N-D a sum over the last axis of a and
    the second-to-last of b."""
    a_shape, b_shape = shape_of(a), shape_of(b)
    if not a_shape or not b_shape:
        return a * b
    if len(b_shape) <= 2:
        return matmul(a, b)
    k = b_shape[-2]
    moved = transpose(b, (len(b_shape) - 2, *range(len(b_shape) - 2), len(b_shape) - 1))
    flat = matmul(reshape(a, (-1, k)), reshape(moved, (k, -1)))
    return reshape(flat, a_shape[:-1] + b_shape[:-2] + b_shape[-1:])


@op
def outer(a, b):
    """aᵢ bⱼ over the flattened inputs."""
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))



# ----- einsum: one primitive per arity, its rules einsums themselves (so every order is exact) -----


def _einsum_operand_vjp(i):
    """∂/∂xᵢ of einsum(t₀,…,tₙ→o) = einsum(o, the other tⱼ → tᵢ), then summed where xᵢ was broadcast (size 1)
    and spread over letters only xᵢ has. A letter repeated in tᵢ ('ii', a diagonal) is kept once, and the
    result placed back on that diagonal, zero off it: the transpose of taking the diagonal."""

    def vjp(g, ans, *xs, subscripts):
        terms, out = subscripts.split("->")
        terms = terms.split(",")
        target = terms[i]
        letters = "".join(dict.fromkeys(target))  # each letter once, in order
        others = [t for j, t in enumerate(terms) if j != i]
        kept = "".join(c for c in letters if c in out or any(c in t for t in others))
        sources = [out] + others
        r = _einsum_primitive(len(sources)).bind(g, *(x for j, x in enumerate(xs) if j != i),
                                                   subscripts=",".join(sources) + "->" + kept)
        shape = shape_of(xs[i])
        first = [target.index(c) == p for p, c in enumerate(target)]  # the first place of each letter
        r = r.reshape(tuple(shape_of(r)[kept.index(c)] if c in kept and is_first else 1
                            for c, is_first in zip(target, first)))
        summed = tuple(a for a, (n, m) in enumerate(zip(shape_of(r), shape)) if n != m and m == 1)
        if summed:
            r = sum_p.bind(r, axis=summed, keepdims=True)
        if letters != target:
            return where_p.bind(_diagonal_mask(target, shape), r, 0)
        return r if shape_of(r) == shape else broadcast_to_p.bind(r, shape=shape)

    return vjp


def _diagonal_mask(term: str, shape) -> np.ndarray:
    """True where the axes of each repeated letter of ``term`` have equal indices (x[i, i, j] for 'iij')."""
    mask = np.ones(shape, dtype=bool)
    for letter in set(term):
        places = [p for p, c in enumerate(term) if c == letter]
        index = [np.arange(shape[p]).reshape([-1 if q == p else 1 for q in range(len(shape))]) for p in places]
        for other in index[1:]:
            mask &= index[0] == other
    return mask


_EINSUM_PRIMITIVES: dict[int, Primitive] = {}
_EINSUM_SAMPLES = {1: [("ij->ji", (2, 3)), ("ijk->ik", (2, 3, 4)), ("ii->i", (3, 3)), ("ii->", (3, 3)),
                       ("iij->j", (2, 2, 3)), ("ijij->ij", (2, 3, 2, 3))],
                   2: [("ij,jk->ik", (2, 3), (3, 4)), ("bij,bjk->bik", (2, 2, 3), (2, 3, 2)), ("i,j->ij", (2,), (3,)),
                       ("ij,ij->", (1, 3), (2, 3)), ("ijk,j->ki", (2, 3, 2), (3,)), ("ii,ij->j", (3, 3), (3, 2)),
                       ("iij,j->i", (2, 2, 3), (1,))],
                   3: [("ij,jk,kl->il", (2, 3), (3, 2), (2, 2))]}


def _einsum_primitive(n: int) -> Primitive:
    if n not in _EINSUM_PRIMITIVES:
        _EINSUM_PRIMITIVES[n] = Primitive(
            f"einsum[{n}]", lambda *xs, subscripts: np.einsum(subscripts, *xs, optimize=n > 2),
            tuple(_einsum_operand_vjp(i) for i in range(n)), jvp=multilinear(lambda: _EINSUM_PRIMITIVES[n]),
            samples=[Sample(*(In(shape) for shape in shapes), subscripts=subs)
                     for subs, *shapes in _EINSUM_SAMPLES.get(n, [])])
    return _EINSUM_PRIMITIVES[n]


for _n in _EINSUM_SAMPLES:
    _einsum_primitive(_n)  # (made on import, so the registry's test covers the family)


def _explicit_subscripts(equation: str, shapes) -> str:
    """``equation`` with '...' replaced by letters (right-aligned, as broadcasting aligns) and the output of the
    implicit form (the letters used once, in alphabetical order) written out."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum: equation must be a str, got {type(equation).__name__} {equation!r}")
    spec = equation.replace(" ", "")
    inputs, arrow, out = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: equation {equation!r} names {len(terms)} operand(s), got {len(shapes)}")
    letters = [c for t in terms for c in t.replace("...", "")]
    if any(not c.isalpha() or not c.isascii() for c in letters + list(out.replace("...", ""))):
        raise ValueError(f"einsum: subscripts must be letters (and '...'), got {equation!r}")
    counts = [len(shape) - len(t.replace("...", "")) for t, shape in zip(terms, shapes)]
    for t, shape, extra in zip(terms, shapes, counts):
        if extra < 0 or (extra and "..." not in t):
            raise ValueError(f"einsum: subscripts {t!r} do not match an operand of shape {tuple(shape)}")
    fresh = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in letters][:max(counts)]
    ellipsis = "".join(fresh)
    terms = [t.replace("...", ellipsis[len(ellipsis) - extra:]) for t, extra in zip(terms, counts)]
    if not arrow:
        out = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    else:
        unknown = set(out.replace("...", "")) - set(letters)
        if unknown or len(set(out.replace("...", ""))) != len(out.replace("...", "")):
            raise ValueError(f"einsum: the output subscripts of {equation!r} must be distinct letters of the inputs")
        out = out.replace("...", ellipsis)
    return ",".join(terms) + "->" + out


@op(data=0)
def einsum(equation, *operands):
    """Einstein summation, ``np.einsum`` / ``torch.einsum`` / MindSpore's ``ops.einsum``: each letter an axis,
    letters missing from the output summed over, '...' the broadcast axes (implicit output: the letters used
    once, alphabetically).  ∂/∂xᵢ = einsum of g with the other operands, into xᵢ's subscripts

    >>> einsum("ij,j->i", [[1.0, 2.0], [3.0, 4.0]], [1.0, 1.0])
    Tensor(shape=[2], dtype=Float32, value=
    [3., 7.])
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])  # torch.einsum(eq, [a, b]) as well as einsum(eq, a, b)
    operands = _joined_values("einsum", operands)
    subscripts = _explicit_subscripts(equation, [shape_of(x) for x in operands])
    sizes: dict[str, set[int]] = {}
    for term, x in zip(subscripts.split("->")[0].split(","), operands):
        for letter, n in zip(term, shape_of(x)):
            sizes.setdefault(letter, set()).add(n)
    clashes = {c: sorted(n) for c, n in sizes.items() if len(n - {1}) > 1}
    if clashes:
        raise ValueError(f"einsum: equation {equation!r} gives one letter different sizes {clashes} for the "
                         f"shapes {[shape_of(x) for x in operands]}")
    return _einsum_primitive(len(operands)).bind(*operands, subscripts=subscripts)


# ----- triangles and diagonals: masks and index arrays, so their rules are where's and getitem's -----


def _offset(fn: str, diagonal) -> int:
    if isinstance(diagonal, bool) or not isinstance(diagonal, (int, np.integer)):
        raise TypeError(f"{fn}: diagonal must be an int, got {type(diagonal).__name__} {diagonal!r}")
    return int(diagonal)


def _matrices(fn: str, x, name: str = "x") -> tuple[int, int]:
    shape = shape_of(x)
    if len(shape) < 2:
        raise ValueError(f"{fn}: {name} must have at least 2 dimensions (a matrix or a batch of them), got shape "
                         f"{shape}")
    return shape[-2], shape[-1]


@op(data=1)
def tril(x, diagonal=0):
    """The lower triangle of each matrix (last two axes): xᵢⱼ where j − i ≤ ``diagonal``, else 0.
    ∂/∂x = g on the triangle, 0 off it

    >>> tril([[1.0, 2.0], [3.0, 4.0]])
    Tensor(shape=[2, 2], dtype=Float32, value=
    [[1., 0.],
     [3., 4.]])
    """
    k = _offset("tril", diagonal)
    return where_p.bind(np.tri(*_matrices("tril", x), k=k, dtype=bool), x, 0)


@op(data=1)
def triu(x, diagonal=0):
    """The upper triangle of each matrix (last two axes): xᵢⱼ where j − i ≥ ``diagonal``, else 0.
    ∂/∂x = g on the triangle, 0 off it

    >>> triu([[1.0, 2.0], [3.0, 4.0]])
    Tensor(shape=[2, 2], dtype=Float32, value=
    [[1., 2.],
     [0., 4.]])
    """
    k = _offset("triu", diagonal)
    return where_p.bind(~np.tri(*_matrices("triu", x), k=k - 1, dtype=bool), x, 0)


def _diagonal_index(rows: int, cols: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, i + k) for every i with both inside a rows × cols matrix."""
    start = np.arange(max(0, min(rows + min(k, 0), cols - max(k, 0))))
    return start - min(k, 0), start + max(k, 0)


@op(data=1)
def diag(x, diagonal=0):
    """``torch.diag`` / ``np.diag``: of a vector, the square matrix with x on diagonal k (k > 0 above the main
    one); of a matrix, its k-th diagonal as a vector.  ∂/∂x = g's diagonal / g placed on the diagonal

    >>> diag([1.0, 2.0])
    Tensor(shape=[2, 2], dtype=Float32, value=
    [[1., 0.],
     [0., 2.]])
    """
    k, shape = _offset("diag", diagonal), shape_of(x)
    if len(shape) == 1:
        n = shape[0] + abs(k)
        return untake_p.bind(x, index=_diagonal_index(n, n, k), shape=(n, n))
    if len(shape) == 2:
        return getitem_p.bind(x, index=_diagonal_index(*shape, k))
    raise ValueError(f"diag: x must be a vector or a matrix, got shape {shape}")


@op
def trace(x):
    """Σᵢ xᵢᵢ of a matrix.  ∂/∂x = I

    >>> trace([[1.0, 2.0], [3.0, 4.0]])
    Tensor(shape=[], dtype=Float32, value= 5.)
    """
    shape = shape_of(x)
    if len(shape) != 2:
        raise ValueError(f"trace: x must be a matrix (2 dimensions), got shape {shape}")
    return sum(getitem_p.bind(x, index=_diagonal_index(*shape, 0)))



# ----- norms -----


def _vector_norm_impl(x, ord, axis, keepdims):
    """(Σ |x|ᵖ)^(1/p) over ``axis``, computed as m (Σ (|x|/m)ᵖ)^(1/p) with m = max |x|, so that no power
    overflows or underflows (as softmax subtracts its max)."""
    magnitude = np.abs(x)
    if magnitude.size == 0:
        return np.add.reduce(magnitude, axis=axis, keepdims=keepdims)
    m = np.maximum.reduce(magnitude, axis=axis, keepdims=True)
    scale = np.where(m == 0, 1, m)
    scaled = magnitude / scale
    powered = scaled * scaled if ord == 2 else scaled if ord == 1 else scaled ** ord
    out = scale * np.add.reduce(powered, axis=axis, keepdims=True) ** (1 / ord)
    return out if keepdims else out.reshape([n for i, n in enumerate(out.shape) if i not in axis])


def _vector_norm_vjp(g, ans, x, ord, axis, keepdims):
    """∂‖x‖ₚ/∂xᵢ = sign(xᵢ) |xᵢ/‖x‖ₚ|^(p−1) (x/‖x‖ for p = 2, sign(x) for p = 1); 0 at x = 0, as PyTorch."""
    norm = ans if keepdims else ans.reshape(kept_shape(shape_of(x), axis))
    ratio = x / where_p.bind(norm == 0, 1, norm)
    slope = ratio if ord == 2 else sign_p.bind(x) if ord == 1 else sign_p.bind(x) * abs(ratio) ** (ord - 1)
    return _spread(g, ans, x, axis, keepdims) * slope


vector_norm_p = Primitive("vector_norm", _vector_norm_impl, (_vector_norm_vjp,), batchable=True,
                          jvp=reduction_jvp(_vector_norm_vjp), samples=[
    Sample(In((2, 3, 4), "nonzero"), ord=ord, axis=axis, keepdims=keepdims)
    for ord, axis, keepdims in ((2, (0, 1, 2), False), (2, (1,), True), (1, (2,), False), (3, (0, 2), False),
                                (1.5, (1,), True))])

_MATRIX_ORDS = ("fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf)


def _vector_norm(x, ord, axis, keepdim):
    if isinstance(ord, str) or isinstance(ord, bool) or not isinstance(ord, (int, float, np.number)) \
            or np.isnan(ord):
        raise ValueError(f"norm: ord for a vector norm must be a number (inf, -inf, 0 or any other), got {ord!r}")
    if ord == np.inf:
        return max_of(abs(x), axis=axis, keepdims=keepdim)
    if ord == -np.inf:
        return min_of(abs(x), axis=axis, keepdims=keepdim)
    if ord == 0:
        return sum(abs(sign_p.bind(x)), axis=axis, keepdims=keepdim)  # sign has no rule: ∂ = 0
    return vector_norm_p.bind(x, ord=ord, axis=axis, keepdims=keepdim)


def _matrix_norm(x, ord, axes, keepdim):
    rows, cols = axes
    if ord == "fro":
        return vector_norm_p.bind(x, ord=2, axis=axes, keepdims=keepdim)
    if ord in ("nuc", 2, -2):  # Σ, max, min of the singular values
        others = tuple(a for a in range(len(shape_of(x))) if a not in axes)
        s = svdvals_p.bind(transpose(x, others + axes))
        reduce = sum if ord == "nuc" else max_of if ord == 2 else min_of
        out = reduce(s, axis=-1)
        return reshape(out, kept_shape(shape_of(x), axes)) if keepdim else out
    if ord in (1, -1):  # max / min over columns of Σ_rows |x|
        reduced, over = sum(abs(x), axis=rows, keepdims=True), cols
    elif ord in (np.inf, -np.inf):  # max / min over rows of Σ_columns |x|
        reduced, over = sum(abs(x), axis=cols, keepdims=True), rows
    else:
        raise ValueError(f"norm: ord for a matrix norm must be one of {_MATRIX_ORDS}, got {ord!r}")
    out = (max_of if ord > 0 else min_of)(reduced, axis=over, keepdims=True)
    return out if keepdim else squeeze(out, axes)


@op(data=1)
def norm(A, ord=None, dim=None, keepdim=False):
    """MindSpore's ``ops.norm`` and ``torch.linalg.norm``. ``dim`` an int: the vector norm (Σ |x|ᵖ)^(1/p) for
    ``ord`` = p (None: 2; inf / −inf: max / min |x|; 0: the count of non-zeros); ``dim`` two ints: the matrix
    norm, ``ord`` 'fro' (None), 1 / −1 (max / min column sum of |x|), inf / −inf (max / min row sum), 2 / −2
    (the largest / smallest singular value), 'nuc' (their sum). ``dim`` None: the 2-norm of the flattened A
    when ``ord`` is None, else A must be a vector or a matrix. ∂‖x‖₂/∂x = x/‖x‖₂ (0 at x = 0, as PyTorch);
    computed without overflow for large entries; ∂sᵢ/∂A = uᵢvᵢᵀ

    >>> norm([3.0, 4.0])
    Tensor(shape=[], dtype=Float32, value= 5.)
    """
    ndim = len(shape_of(A))
    if dim is None:
        if ord is None:
            return vector_norm_p.bind(A, ord=2, axis=tuple(range(ndim)), keepdims=keepdim)
        if ndim not in (1, 2):
            raise ValueError(f"norm: with ord={ord!r} and dim=None, A must be a vector or a matrix, got "
                             f"{ndim} dimensions; pass dim")
        dim = 0 if ndim == 1 else (0, 1)
    if isinstance(dim, (int, np.integer)) and not isinstance(dim, bool):
        return _vector_norm(A, 2 if ord is None else ord, normalize_axis(dim, ndim), keepdim)
    axes = tuple(dim) if isinstance(dim, (tuple, list)) else None
    if axes is None or len(axes) != 2 or any(isinstance(a, bool) or not isinstance(a, (int, np.integer))
                                             for a in axes):
        raise ValueError(f"norm: dim must be None, an int or two ints, got {dim!r}")
    rows, cols = (normalize_axis(a, ndim)[0] for a in axes)
    if rows == cols:
        raise ValueError(f"norm: dim must name two different axes, got {dim!r}")
    return _matrix_norm(A, "fro" if ord is None else ord, (rows, cols), keepdim)


@op(data=1)
def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False):
    """``torch.linalg.matrix_norm``: ``norm`` of the matrices in the axes ``dim`` ('fro', 'nuc', ±1, ±2, ±inf).

    >>> matrix_norm([[3.0, 0.0], [0.0, -4.0]], ord=2)
    Tensor(shape=[], dtype=Float32, value= 4.)
    """
    if ord is None or not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise ValueError(f"matrix_norm: ord must be one of {_MATRIX_ORDS} and dim two axes, got ord={ord!r}, "
                         f"dim={dim!r}; norm takes vector orders")
    return norm(A, ord, dim, keepdim)



# ----- inverse, solve, determinants (square matrices in the last two axes, with any batch axes) -----


def _square(fn: str, name: str, A) -> int:
    shape = shape_of(A)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"{fn}: {name} must be a square matrix or a batch of them (..., n, n), got shape {shape}")
    return shape[-1]


def _numpy_linalg(fn: str, compute):
    """Run a NumPy linalg routine, turning its LinAlgError into one that names softgrad's op."""
    def impl(*args, **params):
        try:
            return compute(*args, **params)
        except np.linalg.LinAlgError as error:
            raise np.linalg.LinAlgError(f"{fn}: {error} (the matrix is singular or not finite)") from None

    return impl


def _well_conditioned(bind, *shapes):
    """Samples of a primitive of square matrices, at A + 3 I: far from singular (A's entries standard normal).
    ``bind`` looks the primitive up when called, so it can be declared after its samples."""
    def build(A, *rest):
        return bind(A + 3 * np.eye(shape_of(A)[-1]), *rest)

    return [Sample(*(In(shape) for shape in group), build=build) for group in shapes]


SQUARE_SHAPES = [((3, 3),), ((2, 2, 2),)]

inv_p = Primitive("inv", _numpy_linalg("inv", np.linalg.inv),
                  (lambda g, ans, A: -matmul_p.bind(matmul_p.bind(_mT(ans), g), _mT(ans)),),
                  jvp=lambda ts, ans, A: -matmul_p.bind(matmul_p.bind(ans, ts[0]), ans),
                  samples=_well_conditioned(lambda A: inv_p.bind(A), *SQUARE_SHAPES))


@op
def inv(A):
    """A⁻¹ (``torch.linalg.inv``, MindSpore's ``ops.inverse``).  ∂/∂A = −A⁻ᵀ g A⁻ᵀ

    >>> inv([[2.0, 0.0], [0.0, 4.0]])
    Tensor(shape=[2, 2], dtype=Float32, value=
    [[0.5 , 0.  ],
     [0.  , 0.25]])
    """
    _square("inv", "A", A)
    return inv_p.bind(A)


def _solve_vjp_B(g, ans, A, B):
    return solve_p.bind(_mT(A), g)


def _solve_vjp_A(g, ans, A, B):
    grad_B = _solve_vjp_B(g, ans, A, B)
    return -matmul_p.bind(grad_B, _mT(ans))


def _solve_jvp(tangents, ans, A, B):
    """Ẋ = A⁻¹(Ḃ − Ȧ X)."""
    tA, tB = tangents
    if tA is None:
        return solve_p.bind(A, tB)
    change = matmul_p.bind(tA, ans)
    return solve_p.bind(A, -change if tB is None else tB - change)


solve_p = Primitive("solve", _numpy_linalg("solve", np.linalg.solve), (_solve_vjp_A, _solve_vjp_B),
                    jvp=_solve_jvp,
                    samples=_well_conditioned(lambda A, B: solve_p.bind(A, B), ((3, 3), (3, 2)),
                                              ((2, 2, 2), (2, 2, 3))))


@op
def solve(A, B):
    """X with A X = B (``torch.linalg.solve``; B a matrix (..., n, k) or a vector (n,)).  ∂/∂B = A⁻ᵀ g,
    ∂/∂A = −(A⁻ᵀ g) Xᵀ

    >>> solve([[2.0, 0.0], [0.0, 4.0]], [2.0, 2.0])
    Tensor(shape=[2], dtype=Float32, value=
    [1. , 0.5])
    """
    n, b_shape = _square("solve", "A", A), shape_of(B)
    if len(b_shape) == 1 and len(shape_of(A)) == 2:
        if b_shape[0] != n:
            raise ValueError(f"solve: B must have A's {n} rows, got shape {b_shape} for A {shape_of(A)}")
        return reshape(solve_p.bind(A, reshape(B, (n, 1))), (n,))
    if len(b_shape) != len(shape_of(A)) or b_shape[-2] != n:
        raise ValueError(f"solve: B must be (..., {n}, k) with A's batch axes (or a vector of {n}), got shape "
                         f"{b_shape} for A {shape_of(A)}")
    return solve_p.bind(A, B)


def _slogdet_impl(A):
    return np.linalg.slogdet(A)[1]


logabsdet_p = Primitive("logabsdet", _numpy_linalg("slogdet", _slogdet_impl),
                        (lambda g, ans, A: g[..., None, None] * _mT(inv_p.bind(A)),),
                        jvp=lambda ts, ans, A: (_mT(inv_p.bind(A)) * ts[0]).sum(axis=(-2, -1)),
                        samples=_well_conditioned(lambda A: logabsdet_p.bind(A), *SQUARE_SHAPES))


@op
def slogdet(A):
    """(sign, log |det A|) (``torch.linalg.slogdet``, MindSpore's ``ops.slogdet``), without the overflow of det.
    ∂ log|det A| / ∂A = A⁻ᵀ; the sign is piecewise constant

    >>> slogdet([[2.0, 0.0], [0.0, -3.0]])[1]
    Tensor(shape=[], dtype=Float32, value= 1.7917595)
    """
    _square("slogdet", "A", A)
    sign = np.linalg.slogdet(np.asarray(concrete(A)))[0]
    return wrap(sign), logabsdet_p.bind(A)


det_p = Primitive("det", _numpy_linalg("det", np.linalg.det),
                  (lambda g, ans, A: (g * ans)[..., None, None] * _mT(inv_p.bind(A)),),
                  jvp=lambda ts, ans, A: ans * (_mT(inv_p.bind(A)) * ts[0]).sum(axis=(-2, -1)),
                  samples=_well_conditioned(lambda A: det_p.bind(A), *SQUARE_SHAPES))


@op
def det(A):
    """det A (``torch.linalg.det``, MindSpore's ``ops.det``), by LU.  ∂/∂A = det A · A⁻ᵀ (at a singular A the
    rule raises: A⁻¹ does not exist there)

    >>> det([[2.0, 1.0], [1.0, 3.0]])
    Tensor(shape=[], dtype=Float32, value= 5.)
    """
    _square("det", "A", A)
    return det_p.bind(A)


# ----- factorizations: cholesky, qr, svd. A primitive has one output, so one of several outputs returns them
# stacked along the rows, (..., rows₁ + rows₂ + …, k), and its op slices them apart -----


def _lower_halved(X, n: int):
    """Φ(X): the lower triangle of X with its diagonal halved."""
    return where_p.bind(np.tri(n, k=-1, dtype=bool), X, where_p.bind(np.eye(n, dtype=bool), 0.5 * X, 0))


def _cholesky_impl(A, upper):
    try:
        return np.linalg.cholesky(A, upper=upper)
    except np.linalg.LinAlgError:
        raise np.linalg.LinAlgError(
            f"cholesky: A must be symmetric positive definite, but {_not_definite(A, upper)} is not (only its "
            f"{'upper' if upper else 'lower'} triangle is read); add a multiple of the identity to make it "
            "definite, or check how A was built") from None


def _not_definite(A, upper) -> str:
    """Which matrix of A does not factorize: 'A', or 'A[i, j]' in a batch."""
    for index in np.ndindex(A.shape[:-2]):
        try:
            np.linalg.cholesky(A[index], upper=upper)
        except np.linalg.LinAlgError:
            return f"A[{', '.join(map(str, index))}] (of a batch {A.shape[:-2]})" if index else "A"
    return "A"


def _cholesky_vjp(g, ans, A, upper):
    """Murray (2016), for A = L Lᵀ: S = L⁻ᵀ Φ(Lᵀ ḡ) L⁻¹ (Φ: the lower triangle, diagonal halved), and
    ∂/∂A = (S + Sᵀ)/2, the gradient for symmetric perturbations of A (PyTorch's)."""
    L, gL = (_mT(ans), _mT(g)) if upper else (ans, g)
    Lt = _mT(L)
    X = solve_p.bind(Lt, _lower_halved(matmul_p.bind(Lt, gL), shape_of(L)[-1]))  # L⁻ᵀ Φ
    St = solve_p.bind(Lt, _mT(X))  # Sᵀ = (X L⁻¹)ᵀ = L⁻ᵀ Xᵀ
    return 0.5 * (St + _mT(St))


def _symmetric_positive_definite(bind, *shapes, **params):
    """Samples at A Aᵀ + I (A standard normal): symmetric positive definite, perturbed symmetrically."""
    def build(A):
        return bind(matmul_p.bind(A, _mT(A)) + np.eye(shape_of(A)[-1]), **params)

    return [Sample(In(shape), build=build) for shape in shapes]


def _cholesky_jvp(tangents, ans, A, upper):
    """L̇ = L Φ(L⁻¹ sym(Ȧ) L⁻ᵀ) (Φ: the lower triangle, diagonal halved; sym: the symmetric part, as the VJP
    takes A symmetric), U̇ = L̇ᵀ."""
    L, t = _mT(ans) if upper else ans, tangents[0]
    X = solve_p.bind(L, _mT(solve_p.bind(L, 0.5 * (t + _mT(t)))))  # L⁻¹ S L⁻ᵀ for S symmetric
    dL = matmul_p.bind(L, _lower_halved(X, shape_of(L)[-1]))
    return _mT(dL) if upper else dL


cholesky_p = Primitive("cholesky", _cholesky_impl, (_cholesky_vjp,), jvp=_cholesky_jvp, samples=[
    *_symmetric_positive_definite(lambda A, upper: cholesky_p.bind(A, upper=upper), (3, 3), (2, 2, 2), upper=False),
    *_symmetric_positive_definite(lambda A, upper: cholesky_p.bind(A, upper=upper), (3, 3), upper=True)])


@op
def cholesky(A, upper=False):
    """L lower triangular with L Lᵀ = A, for A symmetric positive definite (``torch.linalg.cholesky``,
    MindSpore's ``ops.cholesky``); ``upper``: U = Lᵀ, with Uᵀ U = A. Only the lower (upper) triangle of A is
    read. ∂/∂A = sym(L⁻ᵀ Φ(Lᵀ ḡ) L⁻¹) (Murray 2016; Φ: lower triangle, diagonal halved), symmetric as PyTorch's

    >>> cholesky([[4.0, 2.0], [2.0, 2.0]])
    Tensor(shape=[2, 2], dtype=Float32, value=
    [[2., 0.],
     [1., 1.]])
    """
    _square("cholesky", "A", A)
    return cholesky_p.bind(A, upper=check_bool("cholesky", "upper", upper))


def _rows(packed, *rows) -> tuple:
    """The outputs of a packed primitive: ``packed[..., r, :]`` for each r of ``rows``."""
    return tuple(getitem_p.bind(packed, index=(Ellipsis, r, slice(None))) for r in rows)


def _qr_impl(A):
    Q, R = np.linalg.qr(A)
    return np.concatenate([Q, R], axis=-2)


def _qr_vjp(g, ans, A):
    """A = QR, m ≥ n: with M = R ḡ_Rᵀ − ḡ_Qᵀ Q and C the symmetric matrix with M's lower triangle,
    ∂/∂A = (ḡ_Q + Q C) R⁻ᵀ."""
    m, n = shape_of(A)[-2:]
    Q, R, gQ, gR = ans[..., :m, :], ans[..., m:, :], g[..., :m, :], g[..., m:, :]
    M = matmul_p.bind(R, _mT(gR)) - matmul_p.bind(_mT(gQ), Q)
    C = where_p.bind(np.tri(n, dtype=bool), M, _mT(M))
    return _mT(solve_p.bind(R, _mT(gQ + matmul_p.bind(Q, C))))  # B R⁻ᵀ = (R⁻¹ Bᵀ)ᵀ


def _qr_jvp(tangents, ans, A):
    """A = QR, m ≥ n: with B = ȦR⁻¹, C = QᵀB and Ω = tril(C, −1) − tril(C, −1)ᵀ (QᵀQ̇, skew),
    Ṙ = (C − Ω)R and Q̇ = B − Q(C − Ω)."""
    m, n = shape_of(A)[-2:]
    Q, R = ans[..., :m, :], ans[..., m:, :]
    B = _mT(solve_p.bind(_mT(R), _mT(tangents[0])))
    C = matmul_p.bind(_mT(Q), B)
    below = where_p.bind(np.tri(n, k=-1, dtype=bool), C, 0)
    upper = C - below + _mT(below)  # C − Ω
    return concat([B - matmul_p.bind(Q, upper), matmul_p.bind(upper, R)], axis=-2)


qr_p = Primitive("qr", _qr_impl, (_qr_vjp,), jvp=_qr_jvp, samples=[Sample(In(shape)) for shape in ((3, 3), (4, 2), (2, 4, 3))])

_QR_MODES = ("reduced", "complete", "r")


@op(data=1)
def qr(A, mode="reduced"):
    """Q, R with A = QR, Q's columns orthonormal and R upper triangular (``torch.linalg.qr``, MindSpore's
    ``ops.qr``), by Householder reflections. ``mode``: 'reduced' (Q m × k, R k × n, k = min(m, n)), 'complete'
    (Q m × m, R m × n), 'r' (R only; Q empty). ∂/∂A = (ḡ_Q + Q copyltu(R ḡ_Rᵀ − ḡ_Qᵀ Q)) R⁻ᵀ for m ≥ n (R
    invertible); for m < n, A = [X | Y] gives Q, U = qr(X) and R = [U | QᵀY]. 'complete' with m > n is not
    differentiable (Q's last m − n columns are not unique), as in PyTorch; 'r' is (PyTorch refuses)

    >>> qr([[3.0, 1.0], [4.0, 2.0]])[1]
    Tensor(shape=[2, 2], dtype=Float32, value=
    [[-5. , -2.2],
     [ 0. ,  0.4]])
    """
    mode = check_choice("qr", "mode", mode, _QR_MODES)
    m, n = _matrices("qr", A, "A")
    if mode == "complete" and m > n:
        if isinstance(A, Tensor) and A.is_traced:
            raise ValueError(f"qr: mode='complete' of a {m} × {n} A (more rows than columns) is not "
                             "differentiable: Q's last columns are not unique; use mode='reduced', or "
                             "stop_gradient(A) if no gradient is wanted")
        Q, R = np.linalg.qr(np.asarray(concrete(A)), mode="complete")
        return wrap(Q), wrap(R)
    if m >= n:
        Q, R = _rows(qr_p.bind(A), slice(m), slice(m, None))
    else:
        Q, U = _rows(qr_p.bind(getitem_p.bind(A, index=(Ellipsis, slice(m)))), slice(m), slice(m, None))
        R = concat([U, matmul_p.bind(_mT(Q), getitem_p.bind(A, index=(Ellipsis, slice(m, None))))], axis=-1)
    return (wrap(np.zeros(0, dtype=np.asarray(concrete(A)).dtype)), R) if mode == "r" else (Q, R)


def _svd_impl(A):
    U, S, Vh = np.linalg.svd(A, full_matrices=False)
    return np.concatenate([U, _mT(Vh), S[..., None, :]], axis=-2)


def _svd_parts(packed, m: int, n: int):
    """U (..., m, k), V (..., n, k) and s (..., k) of a packed svd."""
    return packed[..., :m, :], packed[..., m:m + n, :], packed[..., m + n, :]


def _inverse_gaps(s, k: int):
    """Fᵢⱼ = 1/(sⱼ² − sᵢ²), 0 for i = j (k singular values s)."""
    diagonal = np.eye(k, dtype=bool)
    squares = s * s
    gaps = _row(squares) - _col(squares)  # sⱼ² − sᵢ²
    return where_p.bind(diagonal, 0, 1 / where_p.bind(diagonal, 1, gaps))


def _svd_vjp(g, ans, A):
    """Townsend (2016), A = U S Vᵀ with distinct non-zero singular values (k = min(m, n)): with
    Fᵢⱼ = 1/(sⱼ² − sᵢ²) (0 for i = j), J = F ∘ (Uᵀḡ_U − ḡ_UᵀU), K = F ∘ (Vᵀḡ_V − ḡ_VᵀV),
    ∂/∂A = U (J S + diag ḡ_s + S K) Vᵀ + (I − UUᵀ) ḡ_U S⁻¹ Vᵀ + U S⁻¹ ḡ_Vᵀ (I − VVᵀ)."""
    m, n = shape_of(A)[-2:]
    k = min(m, n)
    (U, V, s), (gU, gV, gs) = _svd_parts(ans, m, n), _svd_parts(g, m, n)
    F = _inverse_gaps(s, k)
    UtgU, VtgV = matmul_p.bind(_mT(U), gU), matmul_p.bind(_mT(V), gV)
    J, K = F * (UtgU - _mT(UtgU)), F * (VtgV - _mT(VtgV))
    inner = J * _row(s) + _col(s) * K + where_p.bind(np.eye(k, dtype=bool), _col(gs), 0)
    gA = matmul_p.bind(matmul_p.bind(U, inner), _mT(V))
    if m > k:  # (I − UUᵀ) ḡ_U S⁻¹ Vᵀ
        gA = gA + matmul_p.bind((gU - matmul_p.bind(U, UtgU)) / _row(s), _mT(V))
    if n > k:  # U S⁻¹ ḡ_Vᵀ (I − VVᵀ)
        gA = gA + matmul_p.bind(U / _row(s), _mT(gV - matmul_p.bind(V, VtgV)))
    return gA


def _sign_free_svd_samples(*shapes):
    """Samples of svd through quantities its sign choices do not change: Σᵢ (sᵢ + i + 1) uᵢvᵢᵀ, and uᵢ², vᵢ², s."""
    def parts(A):
        m, n = shape_of(A)[-2:]
        return _svd_parts(svd_p.bind(A), m, n)

    def weighted(A):
        U, V, s = parts(A)
        return matmul_p.bind(U * _row(s + np.arange(1.0, shape_of(s)[-1] + 1)), _mT(V))

    def squared(A):
        U, V, s = parts(A)
        return concat([U * U, V * V, _row(s)], axis=-2)

    return [Sample(In(shape), build=build) for shape in shapes for build in (weighted, squared)]


def _svd_jvp(tangents, ans, A):
    """With P = UᵀȦV (k × k): ṡ = diag P, U̇ = U (F ∘ (PS + SPᵀ)) + (I − UUᵀ) ȦV S⁻¹,
    V̇ = V (F ∘ (SP + PᵀS)) + (I − VVᵀ) ȦᵀU S⁻¹ (F as in the VJP)."""
    m, n = shape_of(A)[-2:]
    k = min(m, n)
    (U, V, s), t = _svd_parts(ans, m, n), tangents[0]
    F = _inverse_gaps(s, k)
    AV = matmul_p.bind(t, V)
    P = matmul_p.bind(_mT(U), AV)
    Pt = _mT(P)
    dU = matmul_p.bind(U, F * (P * _row(s) + _col(s) * Pt))
    dV = matmul_p.bind(V, F * (_col(s) * P + Pt * _row(s)))
    if m > k:
        dU = dU + (AV - matmul_p.bind(U, P)) / _row(s)
    if n > k:
        dV = dV + (matmul_p.bind(_mT(t), U) - matmul_p.bind(V, Pt)) / _row(s)
    ds = (P * np.eye(k, dtype=bool)).sum(axis=-1)
    return concat([dU, dV, _row(ds)], axis=-2)


svd_p = Primitive("svd", _svd_impl, (_svd_vjp,), jvp=_svd_jvp, samples=_sign_free_svd_samples((3, 3), (4, 2), (2, 2, 3)))


def _svdvals_vjp(g, ans, A):
    """∂sᵢ/∂A = uᵢvᵢᵀ: ∂/∂A = U diag(ḡ) Vᵀ (U, V from svd, so that higher orders follow its rule)."""
    U, V, _ = _svd_parts(svd_p.bind(A), *shape_of(A)[-2:])
    return matmul_p.bind(U * _row(g), _mT(V))


def _svdvals_jvp(tangents, ans, A):
    """ṡᵢ = uᵢᵀ Ȧ vᵢ."""
    U, V, _ = _svd_parts(svd_p.bind(A), *shape_of(A)[-2:])
    return (U * matmul_p.bind(tangents[0], V)).sum(axis=-2)


svdvals_p = Primitive("svdvals", lambda A: np.linalg.svd(A, compute_uv=False), (_svdvals_vjp,), jvp=_svdvals_jvp,
                      samples=[Sample(In(shape)) for shape in ((3, 3), (4, 2), (2, 2, 3))])


@op
def svdvals(A):
    """The singular values s₁ ≥ … ≥ s_k of A, k = min(m, n) (``torch.linalg.svdvals``).  ∂sᵢ/∂A = uᵢvᵢᵀ (its
    second derivative needs distinct singular values)

    >>> svdvals([[3.0, 0.0], [0.0, -4.0]])
    Tensor(shape=[2], dtype=Float32, value=
    [4., 3.])
    """
    _matrices("svdvals", A, "A")
    return svdvals_p.bind(A)


@op(data=1)
def svd(A, full_matrices=True):
    """U, S, Vh with A = U diag(S) Vh, S descending (``torch.linalg.svd``; MindSpore's ``ops.svd`` returns
    (s, u, v) instead). ``full_matrices=False``: U m × k, Vh k × n (k = min(m, n)); True: U m × m, Vh n × n,
    whose columns past k are constants (no gradient flows through them, as in PyTorch). Gradients (Townsend
    2016) need distinct, non-zero singular values, and a loss that does not depend on the signs of the pairs
    (uᵢ, vᵢ): ∂/∂A = U (J S + diag ḡ_S + S K) Vᵀ + the parts outside U's and V's spans

    >>> svd([[3.0, 0.0], [0.0, -4.0]])[1]
    Tensor(shape=[2], dtype=Float32, value=
    [4., 3.])
    """
    m, n = _matrices("svd", A, "A")
    k = min(m, n)
    U, V, S = _rows(svd_p.bind(A), slice(m), slice(m, m + n), m + n)
    if check_bool("svd", "full_matrices", full_matrices) and m != n:
        U_full, _, Vh_full = np.linalg.svd(np.asarray(concrete(A)), full_matrices=True)
        if m > k:
            U = concat([U, U_full[..., k:]], axis=-1)
        else:
            V = concat([V, _mT(Vh_full[..., k:, :])], axis=-1)
    return U, S, _mT(V)


__all__ = ["matmul", "dot", "outer", "einsum", "tril", "triu", "diag", "trace", "norm", "matrix_norm", "inv", "solve",
           "det", "slogdet", "cholesky", "qr", "svd", "svdvals"]
