"""Winograd F(4×4, 3×3): the 3×3 stride-1 convolutions of ``nn_kernels`` with 4× fewer multiplications (dilated
ones too, as the undilated convolution of the input's phases; grouped ones with their tiles group-major); and
F(3×3, 5×5) for 5×5 stride-1 ones, 4.6× fewer.

This is where the convolution's speed tricks live; ``nn_kernels`` keeps the primitives and their rules and calls
these for 3×3 and 5×5 stride-1 kernels (``applies``, ``applies5``).

The maths (Lavin & Gray 2016). Along one axis, four outputs of a 3-tap correlation of a 6-sample input tile d are
y = Aᵀ[(G w) ⊙ (Bᵀ d)], with the interpolation points 0, ±1, ±2 and ∞:

    Bᵀ = [[4, 0, −5, 0, 1, 0], [0, −4, −4, 1, 1, 0], [0, 4, −4, −1, 1, 0],
          [0, −2, −1, 2, 1, 0], [0, 2, −1, −2, 1, 0], [0, 4, 0, −5, 0, 1]]
    G  = [[1/4, 0, 0], [−1/6, −1/6, −1/6], [−1/6, 1/6, −1/6], [1/24, 1/12, 1/6], [1/24, −1/12, 1/6], [0, 0, 1]]
    Aᵀ = [[1, 1, 1, 1, 1, 0], [0, 1, −1, 2, −2, 0], [0, 1, 1, 4, 4, 0], [0, 1, −1, 8, −8, 1]]

and in 2-D, per 4×4 output tile (input tiles 6×6, overlapping by 2), Y = Aᵀ [U ⊙ V] A, U = G w Gᵀ, V = Bᵀ d B.
Summing over the C input channels, the 36 positions ξ of the 6×6 transformed tile are 36 GEMMs
M[ξ] = V[ξ] (tiles, C) @ U[ξ] (C, O): 2.25 multiply-adds per output and channel pair where direct convolution
takes 9 (F(2×2, 3×3) takes 4). The other two primitives are this map's transposes, so every order of derivative
stays exact:

* ``conv3x3_input`` (Aᵀ g): dM = A g Aᵀ per tile, dV[ξ] = dM[ξ] U[ξ]ᵀ, then B dV Bᵀ overlap-added (tile t's
  last two rows and columns are tile t + 1's first two);
* ``conv3x3_weight``: dU[ξ] = Σ_tiles V[ξ]ᵀ dM[ξ], dw = Gᵀ dU G.

Every transform is a small matrix applied along the two leading axes of (6, 6, tiles·channels) arrays
(``_both_axes``): one compiled loop pass per axis where Numba is installed (``compiled``), else two BLAS
calls, instead of one NumPy pass per term.

Exactness, measured against im2col + GEMM in float64 (max |error| / max |result|, N = 64, C = 32, O = 64, 26×26
inputs of standard normals; forward, input gradient, weight gradient): 9.0e-15, 3.3e-15, 8.3e-15 in float64;
5.8e-6, 3.8e-6, 4.3e-6 in float32, where im2col + GEMM errs by 6.8e-7, 2.1e-7, 4.1e-7 and F(2×2, 3×3) by about
as much (2.9e-7 forward). The larger tile's constants (up to 8 in Aᵀ, 1/24 in G) are not all exact in binary and
its transforms cancel larger terms: about 50 float32 epsilons of the largest result, ~9× im2col's, tested below
1e-5 (``tests/test_winograd.py``).

Groups (G, at least ``_MIN_CHANNELS`` inputs and outputs each, compiled): each position's product is G GEMMs,
(tiles, C/G) @ (C/G, O/G), on tiles the compiled gathers lay out group-major, (36, G, tiles, C/G), where the
dense convolution by a block-diagonal weight (``nn_kernels._as_dense``) made G× the multiply-adds (the MNIST-sized
32 → 64 layer in 4 groups: the products of a chunk 0.51 → 0.22 ms, fwd+bwd at two threads 20.7 → 14.3-16.2 ms).
The transforms are the dense convolution's; only the order of a tile's channels changes.

F(3×3, 5×5) (``conv5x5``, compiled only) takes 7×7 input tiles 3 apart (each input cell in up to nine), at the
points 0, ±1, ±2, 1/2 and ∞, with G₇ (7×5, ``_G7``) for the filter and (their rows and columns scaled to integers)

    Bᵀ₇ = [[−4, 8, 5, −10, −1, 2, 0], [0, 4, −4, −9, 1, 2, 0], [0, −4, 12, −7, −3, 2, 0], [0, 2, −3, −4, 3, 2, 0],
           [0, −2, 5, 0, −5, 2, 0], [0, 4, 0, −5, 0, 1, 0], [0, −4, 8, 5, −10, −1, 2]]
    Aᵀ₃ = [[1, 1, 1, 1, 1, 4, 0], [0, 1, −1, 2, −2, 2, 0], [0, 1, 1, 4, 4, 1, 1]]

49 multiply-adds a position for 9 outputs where im2col takes 25 each (F(2×2, 5×5), on 6×6 tiles 2 apart, took
36 for 4: 1.5× the products). Against im2col on the MNIST-sized layer (padding 2; forward, input gradient, weight
gradient): 1.0e-14, 7.8e-15, 2.1e-14 in float64; 5.8e-6, 3.5e-6, 8.0e-6 in float32 (im2col: 5.2e-7, 2.6e-7,
3.3e-7), F(4×4, 3×3)'s order; tested below 1e-5. That layer's fwd+bwd on one core: 190 (im2col) → 150 (F(2×2,
5×5)) → 73–88 ms (its kept tiles in a used-up set's arrays, ``_parallel.held_arrays``: fresh memory cost a quarter
of the forward in page faults) → 54–58 ms (F(3×3, 5×5), against 72–78 in the same run; its g read in place, not
copied zero-extended: a fresh array every step, 2000 page faults).

Speed: the input transpose, given the cotangent of the latest forward convolution, also makes that convolution's
weight gradient from the tiles the forward pass kept of x and its own tiles of g (``_kept``), and the weight
gradient then only looks it up. Images go in chunks whose transformed tiles take about ``_CHUNK_BYTES`` (they stay
in cache between the transform, the GEMMs and the inverse transform), the chunks shared out between threads
(``softgrad._parallel``; each thread's BLAS single-threaded: 36 GEMMs of (tiles, C) @ (C, O) per chunk are too small
for OpenBLAS to split well). A chunk makes few calls from Python (each hands the GIL over to the other thread and
waits for it back: ``compiled``), and 4 MB chunks beat 2 MB (the MNIST example net's 32→64 layer, its forward and
input transpose: 14.4-15.4 against 16.3-17.1 ms at two threads, 7 % faster on one core) and 6-8 MB (16.9-18.2).
On that layer the three convolutions took 46 ms of CPU where F(2×2, 3×3), its transforms one NumPy pass per term,
took 111 ms (1 core, least of 10 interleaved rounds).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from softgrad._parallel import chunks as image_chunks, hand_back, held_arrays, matmul, on_threads, scratch
from softgrad.ops import compiled
from softgrad.ops.elementwise import relu_p

_BT = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=np.float64)
_G = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
               [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])
_AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], dtype=np.float64)
# F(3×3, 5×5) at the points 0, ±1, ±2, 1/2 and ∞ (Bᵀ₇'s rows but the sixth scaled by 2, Aᵀ₃'s sixth column by 4,
# so that both are integers; G₇'s rows scaled back)
_BT7 = np.array([[-4, 8, 5, -10, -1, 2, 0], [0, 4, -4, -9, 1, 2, 0], [0, -4, 12, -7, -3, 2, 0],
                 [0, 2, -3, -4, 3, 2, 0], [0, -2, 5, 0, -5, 2, 0], [0, 4, 0, -5, 0, 1, 0],
                 [0, -4, 8, 5, -10, -1, 2]], dtype=np.float64)
_G7 = np.array([[-1 / 4, 0, 0, 0, 0], [-1 / 6] * 5, [1 / 18, -1 / 18, 1 / 18, -1 / 18, 1 / 18],
                [1 / 72, 1 / 36, 1 / 18, 1 / 9, 2 / 9], [-1 / 120, 1 / 60, -1 / 30, 1 / 15, -2 / 15],
                [8 / 45, 4 / 45, 2 / 45, 1 / 45, 1 / 90], [0, 0, 0, 0, 1 / 2]])
_AT3 = np.array([[1, 1, 1, 1, 1, 4, 0], [0, 1, -1, 2, -2, 2, 0], [0, 1, 1, 4, 4, 1, 1]], dtype=np.float64)
_MATRICES = {"BT": _BT, "B": _BT.T, "AT": _AT, "A": _AT.T,  # by name (``_both_axes``, ``compiled``'s passes)
             "BT7": _BT7, "B7": _BT7.T, "AT3": _AT3, "A3": _AT3.T}
# (a², k²): G ⊗ G, the filter transform of a k×k w flattened, U = (G ⊗ G) vec(w), by k (tiles a×a: 6, 7)
_GG = {3: np.kron(_G, _G), 5: np.kron(_G7, _G7)}
_CHUNK_BYTES = 4 << 20  # transformed tiles of a chunk of images (V or M, the larger) take about this much
_UNPADDED = ((0, 0), (0, 0))
_MIN_CHANNELS = 4  # fewer input or output channels: GEMMs with so short a side lose to im2col


def applies(x_shape, w_shape, geometry, dtype) -> bool:
    """Whether the convolution of x (N, C, H, W) by w (O, C/G, kh, kw) with ``geometry`` (kernel, stride, padding,
    dilation, groups G) goes through Winograd here: 3×3, stride 1, float32 or float64, at least ``_MIN_CHANNELS``
    input and output channels a group (grouped: with the compiled kernels, which lay the tiles out group-major);
    dilated, by its phases (``_phased_input``) when each phase of the padded input has at least 3 rows and
    columns; at least one image (an empty batch takes im2col's path)."""
    padded = [x_shape[2 + a] + sum(geometry.padding[a]) for a in range(2)]
    groups = geometry.groups
    return (x_shape[0] > 0 and tuple(w_shape[2:]) == (3, 3) and tuple(geometry.stride) == (1, 1)
            and all(size // d >= 3 for size, d in zip(padded, geometry.dilation))
            and min(w_shape[1], w_shape[0] // groups) >= _MIN_CHANNELS and np.dtype(dtype) in (np.float32, np.float64)
            and (groups == 1 or compiled.kernel("BT_image") is not None))


# ----- the 2-D transforms of one chunk of images (channels-last, tile positions outermost) -----


def _both_axes(name, tiles, out):
    """M = ``_MATRICES[name]`` (k, a) applied along both leading axes of tiles (a, a, X), into out (k, k, X):
    M · tile · Mᵀ. Compiled loops where Numba is installed (``compiled``), else two BLAS calls."""
    matrix = _MATRICES[name]
    a, k = tiles.shape[0], len(matrix)
    rest = tiles.size // (a * a)
    rows = scratch("rows", (k, a * rest), tiles.dtype)
    kernel = compiled.kernel(name)
    if kernel is not None:  # (one 2-D call per slab: a 3-D loop nest ran at half the speed)
        kernel(tiles.reshape(a, a * rest), rows)
        return _second_axis(name, rows.reshape(k, a, rest), out)
    matrix = matrix.astype(tiles.dtype)
    np.matmul(matrix, tiles.reshape(a, a * rest), out=rows)
    return np.matmul(matrix, rows.reshape(k, a, rest), out=out)


def _second_axis(name, rows, out):
    """The compiled M = ``_MATRICES[name]`` along axis 1 of rows (k, a, X), into out (k, k, X), slab by slab."""
    result = np.reshape(out, (rows.shape[0], -1, rows.shape[2]), copy=False)
    compiled.kernel("slabs")(compiled.PASSES.index(name), rows, result)
    return out


def _input_tiles(xp, th, tw, out):
    """V = Bᵀ d B of every 6×6 tile d (4 apart) of xp (n, 4th + 2, 4tw + 2, C), into out (36, G, n·th·tw, C/G):
    group-major (the NumPy path: G = 1)."""
    n, c = xp.shape[0], xp.shape[3]
    gathered = compiled.kernel("BT_image")
    if gathered is not None:  # (the gather and the first pass in one sweep)
        rows = scratch("rows", (6, 6) + out.shape[1:], xp.dtype)
        gathered(xp, th, tw, rows)
        _second_axis("BT", rows.reshape(6, 6, -1), out.reshape(6, 6, -1))
        return out
    windows = sliding_window_view(xp, (6, 6), axis=(1, 2))[:, ::4, ::4]  # (n, th, tw, C, 6, 6)
    d = scratch("tiles", (6, 6, n, th, tw, c), xp.dtype)
    np.copyto(d, windows.transpose(4, 5, 0, 1, 2, 3))
    _both_axes("BT", d, out.reshape(6, 6, -1))
    return out


def _output_tiles(m, n, th, tw, out, activation=None):
    """Y = Aᵀ M A of every tile of m (36, G, n·th·tw, O/G) group-major, written into out (n, 4th, 4tw, O) through
    ``activation`` (a ``FusedActivation``) if given."""
    o = out.shape[-1]
    scattered = compiled.kernel("AT_image")
    if scattered is not None and (activation is None or activation.primitive is relu_p):
        rows = scratch("rows", (4, 6) + m.shape[1:], m.dtype)  # (the second pass, the scatter and ReLU in one)
        compiled.kernel("AT")(m.reshape(6, -1), rows.reshape(4, -1))
        scattered(rows, activation is not None, th, tw, out)
        return
    y = _both_axes("AT", m.reshape(6, 6, -1), scratch("Y", (4, 4, n * th * tw * o), m.dtype))
    y = y.reshape(4, 4, n, th, tw, o).transpose(2, 3, 0, 4, 1, 5)
    target = np.reshape(out, (n, th, 4, tw, 4, o), copy=False)
    if activation is None:
        target[...] = y
    else:
        activation.forward(y, target)


def _as_tiles(rows, th, tw):
    """rows (n, 4th, 4tw, O) as a (4, 4, n, th, tw, O) view: each 4×4 tile's cells outermost."""
    n, o = rows.shape[0], rows.shape[3]
    return rows.reshape(n, th, 4, tw, 4, o).transpose(2, 4, 0, 1, 3, 5)


def _gathers(derivative) -> bool:
    """Whether g's tiles (and ĝ = g·act'(y) for ``derivative``) are gathered compiled (``A_image``)."""
    return compiled.kernel("A_image") is not None and (derivative is None or derivative[1].primitive is relu_p)


def _grad_tiles(g, th, tw, derivative=None, groups=1):
    """dM = A ĝ Aᵀ of every 4×4 tile of g (n, 4th, 4tw, O) (or (n, Ho, Wo, O) where ``_gathers``): (36, G, n·th·tw,
    O/G) group-major (the NumPy path: G = 1), in this thread's scratch; ĝ = g, or g·act'(y) for ``derivative =
    (y, activation)`` (y as g: a ``FusedActivation``'s output), applied to the tiles as they are copied (so ĝ itself
    is never written out)."""
    n, o = g.shape[0], g.shape[3]
    shape = (groups, n * th * tw, o // groups)
    dm = scratch("dM", (6, 6, n * th * tw * o), g.dtype)
    gathered = compiled.kernel("A_image")
    if _gathers(derivative):
        rows = scratch("rows", (6, 4) + shape, g.dtype)  # (the gather, ReLU's rule and the first pass)
        relu = derivative is not None
        gathered(g, derivative[0] if relu else g, relu, th, tw, rows)
        return _second_axis("A", rows.reshape(6, 4, -1), dm).reshape(36, *shape)
    tiles = scratch("tiles", (4, 4, n, th, tw, o), g.dtype)
    np.copyto(tiles, _as_tiles(g, th, tw))
    if derivative is not None:
        y, activation = derivative
        activation.primitive.output_vjp(tiles, _as_tiles(y, th, tw), tiles)
    return _both_axes("A", tiles, dm).reshape(36, *shape)


def _pooled_grad_tiles(pooled, relu, chunk, th, tw):
    """``_grad_tiles`` of a chunk of ĝ = S(gp), or S(gp)·(y > 0) with ``relu``, S the max-pool's scatter of its
    cotangent, ``pooled = (gp, first, maxima, kernel)`` (``conv3x3_input``), made as the tiles are gathered."""
    gp, first, maxima, kernel = pooled
    n, o = first[chunk].shape[0], gp.shape[1]
    rows = scratch("rows", (6, 4, n * th * tw, o), gp.dtype)
    compiled.kernel("A_pooled")(gp[chunk], maxima[chunk], first[chunk], *kernel, relu, th, tw, rows)
    dm = scratch("dM", (6, 6, n * th * tw * o), gp.dtype)
    return _second_axis("A", rows.reshape(6, 4, -1), dm).reshape(36, 1, n * th * tw, o)


def _input_untiles(dv, n, th, tw, out):
    """B dV Bᵀ of every tile of dv (36, G, n·th·tw, C/G) group-major (the NumPy path: G = 1), overlap-added into
    out (n, 4th + 2, 4tw + 2, C): tile t's rows (columns) 4 and 5 are added onto tile t + 1's 0 and 1, then every
    cell is written once."""
    c = out.shape[-1]
    scattered = compiled.kernel("B_image")
    if scattered is not None:  # (the second pass, the overlap-add and the scatter in one; rows 4, 5 last)
        rows = scratch("rows", (6, 6) + dv.shape[1:], dv.dtype)
        compiled.kernel("B")(dv.reshape(6, -1), rows.reshape(6, -1))
        carry = scratch("carry", (2, c), dv.dtype)
        scattered(rows, th, tw, carry, out)
        return
    d = _both_axes("B", dv.reshape(6, 6, -1), scratch("dD", (6, 6, n * th * tw * c), dv.dtype))
    d = d.reshape(6, 6, n, th, tw, c)
    d[0:2, :, :, 1:] += d[4:6, :, :, :-1]
    d[:, 0:2, :, :, 1:] += d[:, 4:6, :, :, :-1]
    h, w = 4 * th, 4 * tw
    np.reshape(out[:, :h, :w], (n, th, 4, tw, 4, c), copy=False)[...] = d[:4, :4].transpose(2, 3, 0, 4, 1, 5)
    np.reshape(out[:, h:, :w], (n, 2, tw, 4, c), copy=False)[...] = d[4:, :4, :, -1].transpose(2, 0, 3, 1, 4)
    np.reshape(out[:, :h, w:], (n, th, 4, 2, c), copy=False)[...] = d[:4, 4:, :, :, -1].transpose(2, 3, 0, 1, 4)
    out[:, h:, w:] = d[4:, 4:, :, -1, -1].transpose(2, 0, 1, 3)


def _filter_tiles(w, transposed=False, groups=1):
    """U = G w Gᵀ of w (O, C', k, k) in G groups (C' = C/G inputs, O' = O/G outputs each): (a², G, C', O), or its
    transpose (a², G, O', C') (a = 6 for k = 3, 7 for k = 5), C-contiguous either way (BLAS reads each 1.5×
    faster than the other's transposed view). One GEMM by G ⊗ G (``_GG``) on the filter's k² taps laid out as the
    result, U[(i, j)] = Σ_(p, q) G[i, p]·G[j, q]·w[p, q], in float64 (G's sixths and 24ths are inexact; an einsum
    over the three factors took 1 ms for a 64×32 filter, this 0.07 ms)."""
    (o, c), k = w.shape[:2], w.shape[3]
    taps = w.reshape(groups, o // groups, c, k * k).transpose((3, 0, 1, 2) if transposed else (3, 0, 2, 1))
    u = matmul(_GG[k], np.ascontiguousarray(taps, dtype=np.float64).reshape(k * k, -1))  # (BLAS's threads asleep)
    return u.astype(w.dtype).reshape((len(u),) + taps.shape[1:])


def _filter_untiles(du, k=3):
    """dw = Gᵀ dU G: (a², G, C', O') → (G·O', C', k, k), one GEMM by (G ⊗ G)ᵀ in float64, as ``_filter_tiles``."""
    groups, c, o = du.shape[1:]
    dw = matmul(_GG[k].T, du.reshape(len(du), -1).astype(np.float64))  # (k², G·C'·O')
    return np.ascontiguousarray(dw.reshape(k, k, groups, c, o).transpose(2, 4, 3, 0, 1).reshape(groups * o, c, k, k),
                                dtype=du.dtype)


# ----- geometry and chunks of images (``softgrad._parallel``) -----


def _geometry(out_hw):
    """Tiles along each axis: ⌈Ho / 4⌉, ⌈Wo / 4⌉."""
    return -(-out_hw[0] // 4), -(-out_hw[1] // 4)


def _padded(x, padding, th, tw, step=4, kernel=3):
    """x (N, C, H, W) zero-padded to (N, s·th + k − 1, s·tw + k − 1, C), channels-last, s = ``step`` (the output
    tile's size), k = ``kernel``: ``padding`` on top and left, the rest at the bottom and right (padding, plus up
    to s − 1 rows or columns when s does not divide Ho or Wo). A view of x when that is no padding at all."""
    (top, _), (left, _) = padding
    n, c, h, w = x.shape
    rows, columns = step * th + kernel - 1, step * tw + kernel - 1
    if (top, left, h, w) == (0, 0, rows, columns):
        return x.transpose(0, 2, 3, 1)
    out = np.empty((n, rows, columns, c), dtype=x.dtype)  # (the padding's cells zeroed as the rest is copied,
    _gather_cells(x.transpose(0, 2, 3, 1), _shifted(rows, top, h), _shifted(columns, left, w), out)  # compiled
    return out  # and on threads: an NCHW 64 × 64 × 28 × 28 x, where NumPy's zeros and copy took 2.5 ms, 1.3)


def _shifted(length, before, size):
    """Row r − ``before`` of an array of ``size`` rows for r < ``length``, −1 outside it (``_gather_cells``)."""
    rows = np.arange(length) - before
    rows[(rows < 0) | (rows >= size)] = -1
    return rows


def _grad_rows(g, th, tw, gathered):
    """g (N, O, Ho, Wo) channels-last: a view where the compiled gather reads it (``gathered``, ``_gathers``: the
    cells past it zeros), else zero-extended to (N, 4th, 4tw, O) (a view when 4 divides Ho and Wo)."""
    n, o, ho, wo = g.shape
    rows = g.transpose(0, 2, 3, 1)
    if (ho, wo) == (4 * th, 4 * tw) or gathered:
        return rows
    out = np.zeros((n, 4 * th, 4 * tw, o), dtype=g.dtype)
    out[:, :ho, :wo] = rows
    return out


def _chunks(n, th, tw, channels, itemsize, positions=36):
    """Slices of the N images, each with about ``_CHUNK_BYTES`` of transformed tiles (positions·th·tw·channels each;
    36 positions a 6×6 tile, 49 a 7×7 one)."""
    return image_chunks(n, positions * th * tw * channels * itemsize, _CHUNK_BYTES)


def _chunk_sum(parts, chunks):
    """Σ of the per-chunk ``parts`` (dict by chunk start), added in chunk order: the same bits whatever the threads."""
    return sum(parts[chunk.start] for chunk in chunks)


# ----- dilated convolutions, by phases -----
# With dilation d along an axis, output row i = p + d·r (its phase p < d) reads the padded input's rows
# p + d·(r + k), k = 0, 1, 2: rows r + k of that input's phase p (its rows p, p + d, p + 2d, …). Laid out one
# after another (phase 0's rows, then phase 1's, …; along both axes), the phases make an image of the padded
# input's size whose undilated 3×3 convolution holds the dilated one's outputs, block by block: each block's
# last 2 outputs straddle two phases and are dropped (and zero in g, backward). A dilated convolution is then
# the undilated one's Winograd tiles, a rearranging copy each way (``compiled``'s ``gather_cells``, at copy speed)
# and 2(d − 1) lost rows in Hp − 2, where im2col made 4× the multiplications (64 × 32 × 26 × 26 by 64 × 32 × 3 × 3,
# d = 2, fwd+bwd at 2 threads: 25.0 → 13.6-14.1 ms, the undilated convolution 12-13, PyTorch 13.9-14.0:
# bench/results/conv-variants-session15.md).


def _phase_rows(padded, d, offset, length):
    """One axis laid out by phases: for each row of the layout (phase p's ⌈(padded − p)/d⌉ rows r, one phase
    after another), the row p + d·r − ``offset`` of an array of ``length`` rows, or −1 outside it."""
    rows = np.concatenate([p + d * np.arange(-(-(padded - p) // d)) - offset for p in range(d)])
    rows[(rows < 0) | (rows >= length)] = -1
    return rows


def _phased_axes(x_shape, padding, dilation):
    """Per axis, ``_phase_rows`` of x (N, C, H, W) zero-padded by ``padding``."""
    return [_phase_rows(before + size + after, d, before, size)
            for size, (before, after), d in zip(x_shape[2:], padding, dilation)]


def _phased_out_axes(out_hw, padded_hw, dilation):
    """Per axis, the dilated output's rows in the undilated convolution of the phases (a row straddling two
    phases: −1)."""
    return [_phase_rows(padded, d, 0, size)[:padded - 2] for size, padded, d in zip(out_hw, padded_hw, dilation)]


def _to_phases(a, rows, columns):
    """out[n, i, j] = a[n, :, rows[i], columns[j]] for a (N, C, H, W), zero where either is −1: (N, len(rows),
    len(columns), C) channels-last."""
    out = np.empty((a.shape[0], len(rows), len(columns), a.shape[1]), a.dtype)
    _gather_cells(a.transpose(0, 2, 3, 1), rows, columns, out)
    return out


def _from_phases(blocks, rows, columns, shape):
    """The inverse of ``_to_phases``: blocks (N, h, w, C) channels-last → (N, C, *shape), an NCHW view of
    channels-last memory (each of its cells in rows × columns)."""
    def inverse(index, size):
        out = np.empty(size, np.intp)
        out[index[index >= 0]] = np.flatnonzero(index >= 0)
        return out
    out = np.empty((blocks.shape[0], *shape, blocks.shape[3]), blocks.dtype)
    _gather_cells(blocks, inverse(rows, shape[0]), inverse(columns, shape[1]), out)
    return out.transpose(0, 3, 1, 2)


def _gather_cells(src, rows, columns, out):
    """out[n, i, j] = src[n, rows[i], columns[j]] for channels-last (N, ·, ·, C) arrays, zero where either is −1:
    compiled, chunk by chunk of images on threads; else by NumPy's fancy indexing."""
    gather = compiled.kernel("gather_cells")
    if gather is not None and src.dtype == out.dtype:
        per_image = out[:1].nbytes  # (an image's, or 0 for none)
        on_threads(lambda chunk: gather(src[chunk], rows, columns, out[chunk]),
                   image_chunks(len(out), per_image, _CHUNK_BYTES // 4))
        return
    kept_rows, kept_columns = np.flatnonzero(rows >= 0), np.flatnonzero(columns >= 0)
    if len(kept_rows) < len(rows) or len(kept_columns) < len(columns):
        out[...] = 0
    out[:, kept_rows[:, None], kept_columns] = src[:, rows[kept_rows][:, None], columns[kept_columns]]


def _phased_input(x, padding, dilation):
    """x (N, C, H, W) zero-padded and laid out by phases, as an (N, C, Hp, Wp) NCHW view of channels-last memory."""
    return _to_phases(x, *_phased_axes(x.shape, padding, dilation)).transpose(0, 3, 1, 2)


def _phased_grad(g, padded_hw, dilation):
    """g (N, O, Ho, Wo) of a dilated convolution laid out as the undilated convolution's of the phases (the rows
    it drops zero), as an NCHW view of channels-last memory."""
    return _to_phases(g, *_phased_out_axes(g.shape[2:], padded_hw, dilation)).transpose(0, 3, 1, 2)


def _phased_transpose(g, w, x_shape, padding, derivative, key, bias, pooled, dilation, groups):
    """``conv3x3_input`` of a dilated convolution: the undilated one's of g (and of y, ``derivative``'s) laid out
    by phases (a max-pool's stand-in for g computed first), taken back from the phases' layout of x."""
    if pooled is not None:
        g = g.value()
    padded = tuple(size + sum(pad) for size, pad in zip(x_shape[2:], padding))
    if derivative is not None:
        derivative = (_phased_grad(derivative[0], padded, dilation), derivative[1])
    out = conv3x3_input(_phased_grad(g, padded, dilation), w, (*x_shape[:2], *padded), _UNPADDED, derivative, key,
                        bias, groups=groups, tag=_tag(padding, dilation, groups))
    return _from_phases(out.transpose(0, 2, 3, 1), *_phased_axes(x_shape, padding, dilation), x_shape[2:])


def _tag(padding, dilation, groups, size=3):
    """What a convolution's kept tiles are kept under beside its shapes: its padding, and its dilation, groups and
    kernel size if any (grouped tiles are laid out group-major; F(3×3, 5×5)'s are 7×7)."""
    plain = (tuple(dilation), groups, size) == ((1, 1), 1, 3)
    return padding if plain else (padding, tuple(dilation), groups, size)


# ----- the three convolutions -----
# Backprop runs a convolution's input transpose and then its weight gradient on the same g, and the last
# convolution of the forward pass is the first of the backward one. ``_kept`` holds the transformed tiles V of the
# latest forward input (with the array it came from); the input transpose, when they match its shapes, makes the
# weight gradient dU = Σ Vᵀ dM too, from its own dM, and keeps it with the (x, g) it belongs to (and, asked to, the
# bias gradient Σ ĝ); the weight gradient returns it when given those very objects (``is``; g may be the cotangent's
# stand-in that conv2d_bias's rules pass, ``nn_kernels._Pending``). One of each at a time, each used once: memory
# stays bounded by one layer's V. (A weight gradient nobody asks for, as for a frozen weight, costs its GEMMs once.)

_kept: dict = {}
# (Kept tiles are written into the arrays of a used-up set, ``_parallel.held_arrays``: fresh memory cost a 5×5
# forward a quarter of its time in page faults.)


def _keep(kind, source, key, value):
    if kind == "input" and "input" in _kept:
        hand_back(_kept["input"][2][1])
    _kept[kind] = (source, key, value)


def _take(kind, source, key):
    """What was kept for exactly ``source`` (the same object) and ``key``, else None; forgotten either way."""
    kept = _kept.pop(kind, None)
    return kept[2] if kept is not None and kept[0] is source and kept[1] == key else None


def conv3x3(x, w, padding, out_hw, bias=None, activation=None, pooled=False, dilation=(1, 1), kept_as=None,
            groups=1):
    """Σ_c w[o, c] ⋆ x̃[n, c] (+ bias[o], through ``activation``, a ``FusedActivation``) for x (N, C, H, W),
    w (O, C, 3, 3), x̃ zero-padded by ``padding``: (N, O, Ho, Wo), an NCHW view of channels-last memory (with
    ``groups`` G, w (O, C/G, 3, 3), each group's O/G outputs the sum over its C/G inputs: the tiles are laid out
    group-major, (36, G, tiles, C/G), and the 36 GEMMs a position are G smaller ones). Aᵀ's
    column 1 is all ones, so the bias added to M[ξ = (1, 1)] alone reaches all 16 outputs of a tile (1/16 of an
    addition over the output), and the activation runs as the inverse transform writes the output. With
    ``pooled`` (the activation None or ReLU, compiled: ``pools``): the output's 2×2 max-pool of stride 2 instead,
    made from the tiles' values as the inverse transform makes them, the output never written out: (the maxima
    (N, O, Ho // 2, Wo // 2) C-contiguous, each window's first maximum (N, Ho // 2, Wo // 2, O) as
    ``compiled``'s ``pool_max`` makes them). Dilated (not ``pooled``), the undilated convolution of x's phases
    (``_phased_input``), its tiles kept for x (``kept_as``: the array and tag they are kept under)."""
    if tuple(dilation) != (1, 1):
        phased = _phased_input(x, padding, dilation)
        padded = phased.shape[2:]
        y = conv3x3(phased, w, _UNPADDED, (padded[0] - 2, padded[1] - 2), bias, activation,
                    kept_as=(x, _tag(padding, dilation, groups)), groups=groups)
        return _from_phases(y.transpose(0, 2, 3, 1), *_phased_out_axes(out_hw, padded, dilation), out_hw)
    source, tag = (x, _tag(padding, dilation, groups)) if kept_as is None else kept_as
    n, c = x.shape[:2]
    o = w.shape[0]
    th, tw = _geometry(out_hw)
    xp = _padded(x, padding, th, tw)
    u = _filter_tiles(w, groups=groups)
    if pooled:
        hp, wp = out_hw[0] // 2, out_hw[1] // 2
        out, first = np.empty((n, o, hp, wp), dtype=x.dtype), np.empty((n, hp, wp, o), np.uint8)
    else:
        out = np.empty((n, 4 * th, 4 * tw, o), dtype=x.dtype)
    chunks = _chunks(n, th, tw, max(c, o), x.dtype.itemsize)
    tiles = held_arrays(chunks, lambda count: (36, groups, count * th * tw, c // groups), x.dtype)

    def task(chunk):
        count = out[chunk].shape[0]
        v = _input_tiles(xp[chunk], th, tw, tiles[chunk.start])
        m = np.matmul(v, u, out=scratch("M", (36, groups, count * th * tw, o // groups), x.dtype))
        if bias is not None:
            m[7] += bias.reshape(groups, 1, -1)
        if not pooled:
            _output_tiles(m, count, th, tw, out[chunk], activation)
            return
        rows = scratch("rows", (4, 6, count * th * tw, o), m.dtype)  # (the second pass, ReLU and the pool in one)
        compiled.kernel("AT")(m.reshape(6, -1), rows.reshape(4, -1))
        maxima = scratch("maxima", (count, hp, wp, o), x.dtype)
        compiled.kernel("AT_image_pooled")(rows, activation is not None, th, tw, maxima, first[chunk])
        np.copyto(out[chunk], maxima.transpose(0, 3, 1, 2))
    on_threads(task, chunks)
    _keep("input", source, (x.shape, tag, out_hw), (chunks, tiles))
    if pooled:
        return out, first
    return out[:, :out_hw[0], :out_hw[1]].transpose(0, 3, 1, 2)


def pools(x_shape, w_shape, geometry, dtype, activation) -> bool:
    """Whether ``conv3x3(..., pooled=True)`` makes this convolution's 2×2 max-pool: Winograd (``applies``),
    undilated and ungrouped, the activation None or ReLU (a ``FusedActivation``), and the kernels compiled."""
    return (applies(x_shape, w_shape, geometry, dtype) and tuple(geometry.dilation) == (1, 1) and geometry.groups == 1
            and (activation is None or activation.primitive is relu_p) and compiled.kernel("AT_image_pooled") is not None)


def conv3x3_input(g, w, x_shape, padding, derivative=None, key=None, bias=False, pooled=None, dilation=(1, 1),
                  groups=1, tag=None):
    """The transpose of ``conv3x3`` in x, applied to ĝ: g (N, O, Ho, Wo) → (N, C, H, W), an NCHW view of
    channels-last memory. ĝ = g, or g·act'(y) for ``derivative = (y, activation)`` (y the output of a fused
    ``activation``, as g; ``_grad_tiles``). With ``pooled = (gp, first, maxima, kernel)``, g is a ``StandIn``
    for the scatter of a max-pool's cotangent gp to its windows' first maxima (their offsets ``first``, the
    ``maxima`` themselves) in the pool's input, this convolution's output, read inside the tiles' gather where
    compiled (``compiled``'s ``A_pooled``; else computed). Kept for ``key`` (default g: what the weight and bias
    gradients are asked for), besides the weight gradient (see ``_kept``): with ``bias``, Σ_{n,i,j} ĝ, the sum over
    tiles of dM[ξ = (1, 1)] (Aᵀ's column 1 is all ones: dM[1, 1] is the sum of the tile's 16 cells). Dilated, the
    undilated transpose of g (and y) laid out as the phases' convolution's (``conv3x3``), the result taken back from
    x's phases; ``groups`` as ``conv3x3``'s (not with ``pooled``); ``tag``: what the kept tiles are kept under
    (default ``_tag``'s)."""
    if tuple(dilation) != (1, 1):
        return _phased_transpose(g, w, x_shape, padding, derivative, g if key is None else key, bias, pooled,
                                 dilation, groups)
    tag = _tag(padding, dilation, groups) if tag is None else tag
    n, c, h, wd = x_shape
    (top, _), (left, _) = padding
    th, tw = _geometry(g.shape[2:])
    relu = derivative is not None and derivative[1].primitive is relu_p
    if pooled is not None and (compiled.kernel("A_pooled") is None or derivative is not None and not relu
                               or groups > 1):  # (``A_pooled`` lays its tiles out ungrouped)
        g, pooled = g.value(), None
    if pooled is None:  # (the pool's stand-in is read through ``pooled``)
        gathered = _gathers(derivative)
        gr = _grad_rows(g, th, tw, gathered)
        derivative = None if derivative is None else (_grad_rows(derivative[0], th, tw, gathered), derivative[1])
    key = g if key is None else key
    ut = _filter_tiles(w, transposed=True, groups=groups)
    out = np.empty((n, 4 * th + 2, 4 * tw + 2, c), dtype=g.dtype)
    chunks = _chunks(n, th, tw, max(c, g.shape[1]), g.dtype.itemsize)
    kept = _kept.get("input")
    forward = None
    if kept is not None and kept[1] == (x_shape, tag, tuple(g.shape[2:])) and kept[2][0] == chunks:
        forward = _kept.pop("input")[2][1]
    sums, bias_sums = {}, {}

    def task(chunk):
        if pooled is None:
            dm = _grad_tiles(gr[chunk], th, tw, None if derivative is None else (derivative[0][chunk], derivative[1]),
                             groups)
        else:
            dm = _pooled_grad_tiles(pooled, relu, chunk, th, tw)
        if bias:  # (1ᵀ dM[1, 1] by BLAS: 4× add.reduce)
            bias_sums[chunk.start] = (np.ones(dm.shape[2], g.dtype) @ dm[7]).reshape(-1)
        dv = np.matmul(dm, ut, out=scratch("M", dm.shape[:3] + (c // groups,), g.dtype))
        _input_untiles(dv, out[chunk].shape[0], th, tw, out[chunk])
        if forward is not None:
            sums[chunk.start] = np.matmul(forward[chunk.start].transpose(0, 1, 3, 2), dm)
    on_threads(task, chunks)
    if forward is not None:
        hand_back(forward)
        _keep("weight", (kept[0], key), tag, _filter_untiles(_chunk_sum(sums, chunks)))
    if bias:
        _keep("bias", key, None, _chunk_sum(bias_sums, chunks))
    return out[:, top:top + h, left:left + wd].transpose(0, 3, 1, 2)


def kept_weight_gradient(x, key, padding, dilation=(1, 1), groups=1, size=3):
    """The weight gradient the latest input transpose made for exactly x and the cotangent ``key`` (the same
    objects), else None; forgotten either way (it is asked for once)."""
    kept = _kept.pop("weight", None)
    return kept[2] if (kept is not None and kept[0][0] is x and kept[0][1] is key
                       and kept[1] == _tag(padding, dilation, groups, size)) else None


def kept_bias_gradient(key):
    """Σ_{n,i,j} ĝ that the latest input transpose made for the cotangent ``key`` (``bias=True``), else None."""
    kept = _kept.pop("bias", None)
    return kept[2] if kept is not None and kept[0] is key else None


def conv3x3_weight(x, g, padding, dilation=(1, 1), kept_as=None, groups=1):
    """The transpose of ``conv3x3`` in w: Σ over images and tiles, (O, C/G, 3, 3) (dilated: of x's phases and g's
    laid out as their convolution's; ``kept_as`` and ``groups`` as ``conv3x3``'s)."""
    kept = kept_weight_gradient(x, g, padding, dilation, groups)
    if kept is not None:
        return kept
    if tuple(dilation) != (1, 1):
        phased = _phased_input(x, padding, dilation)
        return conv3x3_weight(phased, _phased_grad(g, phased.shape[2:], dilation), _UNPADDED,
                              kept_as=(x, _tag(padding, dilation, groups)), groups=groups)
    source, tag = (x, _tag(padding, dilation, groups)) if kept_as is None else kept_as
    n, c = x.shape[:2]
    o = g.shape[1]
    th, tw = _geometry(g.shape[2:])
    chunks = _chunks(n, th, tw, max(c, o), x.dtype.itemsize)
    forward = _take("input", source, (x.shape, tag, tuple(g.shape[2:])))
    forward = forward[1] if forward is not None and forward[0] == chunks else None
    xp = _padded(x, padding, th, tw) if forward is None else None
    gr = _grad_rows(g, th, tw, _gathers(None))
    sums = {}

    def task(chunk):
        count = gr[chunk].shape[0]
        v = forward[chunk.start] if forward is not None else \
            _input_tiles(xp[chunk], th, tw, scratch("V", (36, groups, count * th * tw, c // groups), x.dtype))
        sums[chunk.start] = np.matmul(v.transpose(0, 1, 3, 2), _grad_tiles(gr[chunk], th, tw, groups=groups))
    on_threads(task, chunks)
    if forward is not None:
        hand_back(forward)
    return _filter_untiles(_chunk_sum(sums, chunks))


# ----- F(3×3, 5×5): 5×5 stride-1 convolutions -----
# 7×7 input tiles (3 apart, each input cell in up to nine), each making a 3×3 output tile: 49 multiply-adds a
# position for 9 outputs where im2col takes 25 each (4.6× fewer; F(2×2, 5×5) on 6×6 tiles took 36 for 4, 2.8×
# fewer), the transforms compiled only (``compiled``'s ``BT7``, ``B7``, ``AT3``, ``A3``: without Numba, im2col). Its
# products are ``conv3x3``'s, its kept tiles the same kind (under a tag with the kernel size); undilated, ungrouped
# or grouped.

_POSITIONS5 = 49  # a 7×7 tile's


def applies5(x_shape, w_shape, geometry, dtype) -> bool:
    """Whether the convolution of x by w (O, C/G, 5, 5) goes through F(3×3, 5×5): stride 1, undilated, float32 or
    float64, at least ``_MIN_CHANNELS`` inputs and outputs a group, the kernels compiled, at least one image."""
    return (x_shape[0] > 0 and tuple(w_shape[2:]) == (5, 5) and tuple(geometry.stride) == (1, 1)
            and tuple(geometry.dilation) == (1, 1)
            and min(w_shape[1], w_shape[0] // geometry.groups) >= _MIN_CHANNELS
            and np.dtype(dtype) in (np.float32, np.float64) and compiled.kernel("BT7_image") is not None)


def _geometry5(out_hw):
    """F(3×3, 5×5)'s tiles along each axis: ⌈Ho / 3⌉, ⌈Wo / 3⌉."""
    return -(-out_hw[0] // 3), -(-out_hw[1] // 3)


def _input_tiles5(xp, th, tw, out):
    """V = Bᵀ₇ d B₇ of every 7×7 tile d (3 apart) of xp (n, 3th + 4, 3tw + 4, C), into out (49, G, n·th·tw, C/G)."""
    rows = scratch("rows", (7, 7) + out.shape[1:], xp.dtype)
    compiled.kernel("BT7_image")(xp, th, tw, rows)
    _second_axis("BT7", rows.reshape(7, 7, -1), out.reshape(7, 7, -1))
    return out


def conv5x5(x, w, padding, out_hw, bias=None, activation=None, groups=1):
    """``conv3x3`` for w (O, C/G, 5, 5), by F(3×3, 5×5): Y = Aᵀ₃ [U ⊙ V] A₃ of every 3×3 output tile, + bias[o]
    (added to M[ξ = (1, 1)]: Aᵀ₃'s column 1 is all ones), through ``activation`` (ReLU as the output is written)."""
    n, c = x.shape[:2]
    o = w.shape[0]
    th, tw = _geometry5(out_hw)
    xp = _padded(x, padding, th, tw, step=3, kernel=5)
    u = _filter_tiles(w, groups=groups)
    out = np.empty((n, 3 * th, 3 * tw, o), dtype=x.dtype)
    chunks = _chunks(n, th, tw, max(c, o), x.dtype.itemsize, _POSITIONS5)
    relu = activation is not None and activation.primitive is relu_p
    tiles = held_arrays(chunks, lambda count: (_POSITIONS5, groups, count * th * tw, c // groups), x.dtype)

    def task(chunk):
        count = out[chunk].shape[0] * th * tw
        v = _input_tiles5(xp[chunk], th, tw, tiles[chunk.start])
        m = np.matmul(v, u, out=scratch("M", (_POSITIONS5, groups, count, o // groups), x.dtype))
        if bias is not None:
            m[8] += bias.reshape(groups, 1, -1)
        rows = scratch("rows", (3, 7, groups, count, o // groups), x.dtype)  # (the first pass, then the second,
        compiled.kernel("AT3")(m.reshape(7, -1), rows.reshape(3, -1))  # the scatter and ReLU in one)
        compiled.kernel("AT3_image")(rows, relu, th, tw, out[chunk])
    on_threads(task, chunks)
    _keep("input", x, (x.shape, _tag(padding, (1, 1), groups, 5), out_hw), (chunks, tiles))
    y = out[:, :out_hw[0], :out_hw[1]]
    if activation is not None and not relu:
        activation.forward(y, y)
    return y.transpose(0, 3, 1, 2)


def _grad_tiles5(g, th, tw, groups):
    """dM = A₃ g Aᵀ₃ of every 3×3 tile of g (n, Ho, Wo, O) channels-last (the last tiles' cells past it zeros):
    (49, G, n·th·tw, O/G) group-major, in this thread's scratch."""
    n, o = g.shape[0], g.shape[3]
    shape = (groups, n * th * tw, o // groups)
    rows = scratch("rows", (7, 3) + shape, g.dtype)
    compiled.kernel("A3_image")(g, th, tw, rows)
    dm = scratch("dM", (7, 7, n * th * tw * o), g.dtype)
    return _second_axis("A3", rows.reshape(7, 3, -1), dm).reshape(_POSITIONS5, *shape)


def conv5x5_input(g, w, x_shape, padding, groups=1):
    """The transpose of ``conv5x5`` in x: g (N, O, Ho, Wo) → (N, C, H, W), an NCHW view of channels-last memory;
    given the cotangent of the latest forward ``conv5x5`` of an x of this shape, it also makes that convolution's
    weight gradient from the kept tiles (``_kept``)."""
    n, c, h, wd = x_shape
    (top, _), (left, _) = padding
    th, tw = _geometry5(g.shape[2:])
    gr = g.transpose(0, 2, 3, 1)
    ut = _filter_tiles(w, transposed=True, groups=groups)
    out = np.empty((n, 3 * th + 4, 3 * tw + 4, c), dtype=g.dtype)
    chunks = _chunks(n, th, tw, max(c, g.shape[1]), g.dtype.itemsize, _POSITIONS5)
    tag = _tag(padding, (1, 1), groups, 5)
    kept = _kept.get("input")
    forward = None
    if kept is not None and kept[1] == (x_shape, tag, tuple(g.shape[2:])) and kept[2][0] == chunks:
        forward = _kept.pop("input")[2][1]
    sums = {}

    def task(chunk):
        dm = _grad_tiles5(gr[chunk], th, tw, groups)
        dv = np.matmul(dm, ut, out=scratch("M", dm.shape[:3] + (c // groups,), g.dtype))
        rows = scratch("rows", (7, 7) + dv.shape[1:], g.dtype)  # (the first pass; the second with the overlap-add)
        compiled.kernel("B7")(dv.reshape(7, -1), rows.reshape(7, -1))
        compiled.kernel("B3_image")(rows, th, tw, out[chunk])
        if forward is not None:
            sums[chunk.start] = np.matmul(forward[chunk.start].transpose(0, 1, 3, 2), dm)
    on_threads(task, chunks)
    if forward is not None:
        hand_back(forward)
        _keep("weight", (kept[0], g), tag, _filter_untiles(_chunk_sum(sums, chunks), 5))
    return out[:, top:top + h, left:left + wd].transpose(0, 3, 1, 2)


def conv5x5_weight(x, g, padding, groups=1):
    """The transpose of ``conv5x5`` in w: Σ over images and tiles, (O, C/G, 5, 5) (what the input transpose made
    for exactly x and g, if it did)."""
    kept = kept_weight_gradient(x, g, padding, groups=groups, size=5)
    if kept is not None:
        return kept
    n, c = x.shape[:2]
    o = g.shape[1]
    th, tw = _geometry5(g.shape[2:])
    chunks = _chunks(n, th, tw, max(c, o), x.dtype.itemsize, _POSITIONS5)
    forward = _take("input", x, (x.shape, _tag(padding, (1, 1), groups, 5), tuple(g.shape[2:])))
    forward = forward[1] if forward is not None and forward[0] == chunks else None
    xp = _padded(x, padding, th, tw, step=3, kernel=5) if forward is None else None
    gr = g.transpose(0, 2, 3, 1)
    sums = {}

    def task(chunk):
        count = gr[chunk].shape[0] * th * tw
        if forward is not None:
            v = forward[chunk.start]
        else:
            v = _input_tiles5(xp[chunk], th, tw, scratch("V", (_POSITIONS5, groups, count, c // groups), x.dtype))
        sums[chunk.start] = np.matmul(v.transpose(0, 1, 3, 2), _grad_tiles5(gr[chunk], th, tw, groups))
    on_threads(task, chunks)
    if forward is not None:
        hand_back(forward)
    return _filter_untiles(_chunk_sum(sums, chunks), 5)


__all__ = ["applies", "applies5", "pools", "conv3x3", "conv3x3_input", "conv3x3_weight", "conv5x5", "conv5x5_input",
           "conv5x5_weight", "kept_weight_gradient", "kept_bias_gradient"]
