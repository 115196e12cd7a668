"""Winograd F(2×2, 3×3): the 3×3 stride-1 convolutions of ``nn_kernels`` with 2.25× fewer multiplications.

This is where the convolution's speed tricks live; ``nn_kernels`` keeps the primitives and their rules and calls
these for 3×3 stride-1 kernels (``applies``).

The maths (Lavin & Gray 2016). Along one axis, two outputs of a 3-tap correlation of a 4-sample input tile d are
y = Aᵀ[(G w) ⊙ (Bᵀ d)] with

    Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]
    G  = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]
    Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]

and in 2-D, per 2×2 output tile (input tiles 4×4, overlapping by 2), Y = Aᵀ [U ⊙ V] A, U = G w Gᵀ, V = Bᵀ d B.
Summing over the C input channels, the 16 positions ξ of the 4×4 transformed tile are 16 GEMMs
M[ξ] = V[ξ] (tiles, C) @ U[ξ] (C, O): 16 multiply-adds per tile, channel pair where direct convolution takes 36.
The other two primitives are this map's transposes, so every order of derivative stays exact:

* ``conv3x3_input`` (Aᵀ g): dM = A g Aᵀ per tile, dV[ξ] = dM[ξ] U[ξ]ᵀ, then B dV Bᵀ overlap-added at stride 2
  (strided accumulation of four tile offsets per axis, no scatter);
* ``conv3x3_weight``: dU[ξ] = Σ_tiles V[ξ]ᵀ dM[ξ], dw = Gᵀ dU G.

Exactness, measured against direct convolution in float64 (max |error| / max |result|, N = 64, C = 32, O = 64,
26×26 inputs of standard normals): forward 1.5e-15, input gradient 5.8e-16, weight gradient 1.6e-15 (float64);
2.9e-7, 3.1e-7, 7.2e-7 in float32, where im2col + GEMM errs by 6.7e-7, 2.2e-7, 4.4e-7: the transforms' constants
(0, ±½, ±1) are exact in binary and add no more rounding than the longer sums of direct convolution.

Speed: the weight gradient reuses the tiles the forward pass made of x and the input transpose made of g when it
is given those very arrays (``_kept``: 20 % off the three convolutions of the example net's second layer). Images
go in chunks whose transformed tiles take about ``_CHUNK_BYTES`` (they stay in cache between the
transform, the GEMMs and the inverse transform: 1.6× faster than whole-batch arrays on the MNIST example net),
the chunks shared out between threads (NumPy releases the GIL; each thread's BLAS runs single-threaded, as
16 GEMMs of (tiles, C) @ (C, O) per chunk are too small for OpenBLAS to split well).
"""

from __future__ import annotations

import numpy as np

from softgrad._blas import blas_threads_local
from softgrad.ops.softmax_kernels import _by_blocks

_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
#: s_i s_j for s = (1, 1, 1, −1), per position ξ = (i, j): the signs ``_grad_tiles`` leaves on dM (S ⊙ S = 1)
_SIGNS = np.outer([1, 1, 1, -1], [1, 1, 1, -1]).reshape(16, 1, 1)
_CHUNK_BYTES = 4 << 20  # transformed tiles of a chunk of images (V or M, the larger) take about this much
_MIN_CHANNELS = 4  # fewer input or output channels: GEMMs with so short a side lose to im2col


def applies(x_shape, w_shape, geometry, dtype) -> bool:
    """Whether the convolution of x (N, C, H, W) by w (O, C, kh, kw) with ``geometry`` (kernel, stride, padding,
    dilation, groups) goes through Winograd here: 3×3, stride 1, undilated, ungrouped, float32 or float64."""
    return (tuple(w_shape[2:]) == (3, 3) and tuple(geometry.stride) == (1, 1) and tuple(geometry.dilation) == (1, 1)
            and geometry.groups == 1 and min(w_shape[:2]) >= _MIN_CHANNELS
            and np.dtype(dtype) in (np.float32, np.float64))


# ----- the one-axis transforms (each on four or two strided views, written into ``out``) -----


def _bt(d0, d1, d2, d3, out):
    """Bᵀ along one axis: (d0 − d2, d1 + d2, d2 − d1, d1 − d3)."""
    np.subtract(d0, d2, out=out[0])
    np.add(d1, d2, out=out[1])
    np.subtract(d2, d1, out=out[2])
    np.subtract(d1, d3, out=out[3])


def _at(m0, m1, m2, m3, y0, y1):
    """Aᵀ along one axis: (m0 + m1 + m2, m1 − m2 − m3)."""
    np.add(m0, m1, out=y0)
    y0 += m2
    np.subtract(m1, m2, out=y1)
    y1 -= m3


def _a(g0, g1, out):
    """A along one axis (Aᵀ's transpose) with its last row's sign flipped (``_SIGNS``): (g0, g0 + g1, g0 − g1, g1)."""
    out[0] = g0
    np.add(g0, g1, out=out[1])
    np.subtract(g0, g1, out=out[2])
    out[3] = g1


def _b_overlapped(v0, v1, v2, v3, out):
    """B along one axis (Bᵀ's transpose), tile t's four values added at 2t … 2t + 3 of ``out`` (zeroed, 2·tiles + 2
    long on axis 0): (v0, v1 − v2 + v3, v2 + v1 − v0, −v3)."""
    n = v0.shape[0]
    out[0:2 * n:2] += v0
    out[2:2 * n + 2:2] -= v0
    t = np.subtract(v1, v2)
    t += v3
    out[1:2 * n + 1:2] += t
    np.add(v1, v2, out=t)
    out[2:2 * n + 2:2] += t
    out[3:2 * n + 3:2] -= v3


# ----- the 2-D transforms of one chunk of images (channels-last) -----


def _input_tiles(xp, th, tw):
    """V = Bᵀ d B of every 4×4 tile of xp (n, 2th + 2, 2tw + 2, C): (16, n·th·tw, C)."""
    n, _, wp, c = xp.shape
    rows = np.empty((4, n, th, wp, c), xp.dtype)
    _bt(*(xp[:, k:k + 2 * th:2] for k in range(4)), rows)
    v = np.empty((4, 4, n, th, tw, c), xp.dtype)
    for i in range(4):
        _bt(*(rows[i][:, :, k:k + 2 * tw:2] for k in range(4)), v[i])
    return v.reshape(16, n * th * tw, c)


def _output_tiles(m, n, th, tw, out):
    """Y = Aᵀ M A of every tile of m (16, n·th·tw, O), written into out (n, 2th, 2tw, O)."""
    o = m.shape[-1]
    m = m.reshape(4, 4, n, th, tw, o)
    rows = np.empty((2, 4, n, th, tw, o), m.dtype)
    _at(m[0], m[1], m[2], m[3], rows[0], rows[1])
    y = out.reshape(n, th, 2, tw, 2, o)
    for r in range(2):
        _at(*rows[r], y[:, :, r, :, 0], y[:, :, r, :, 1])


def _grad_tiles(g, th, tw):
    """dM·S = (A g Aᵀ)·S of every 2×2 tile of g (n, 2th, 2tw, O): (16, n·th·tw, O). S (``_SIGNS``) flips the sign
    of A's last row, so the row pass needs no copy and no negation; the GEMMs that read dM undo it."""
    n, _, _, o = g.shape
    rows = np.empty((2, n, th, 2 * tw, o), g.dtype)
    np.add(g[:, 0::2], g[:, 1::2], out=rows[0])
    np.subtract(g[:, 0::2], g[:, 1::2], out=rows[1])
    dm = np.empty((4, 4, n, th, tw, o), g.dtype)
    for i, r in enumerate((g[:, 0::2], rows[0], rows[1], g[:, 1::2])):
        _a(r[:, :, 0::2], r[:, :, 1::2], dm[i])
    return dm.reshape(16, n * th * tw, o)


def _input_untiles(dv, n, th, tw, out):
    """B dV Bᵀ of every tile of dv (16, n·th·tw, C), overlap-added into out (n, 2th + 2, 2tw + 2, C), zeroed."""
    c = dv.shape[-1]
    dv = dv.reshape(4, 4, n, th, tw, c)
    cols = np.zeros((4, n, th, 2 * tw + 2, c), dv.dtype)
    for i in range(4):
        _b_overlapped(*(dv[i, j].swapaxes(0, 2) for j in range(4)), cols[i].swapaxes(0, 2))
    _b_overlapped(*(cols[i].swapaxes(0, 1) for i in range(4)), out.swapaxes(0, 1))


def _filter_tiles(w):
    """U = G w Gᵀ: (16, C, O)."""
    g = _G.astype(w.dtype)
    return np.einsum("ip,ocpq,jq->ijco", g, w, g).reshape(16, w.shape[1], w.shape[0])


# ----- chunks of images, on threads -----


def _geometry(out_hw):
    """Tiles along each axis: ⌈Ho / 2⌉, ⌈Wo / 2⌉."""
    return -(-out_hw[0] // 2), -(-out_hw[1] // 2)


def _padded(x, padding, th, tw):
    """x (N, C, H, W) zero-padded to (N, 2th + 2, 2tw + 2, C), channels-last: ``padding`` on top and left, the rest
    at the bottom and right (padding, plus a row or column when Ho or Wo is odd)."""
    (top, _), (left, _) = padding
    n, c, h, w = x.shape
    out = np.zeros((n, 2 * th + 2, 2 * tw + 2, c), dtype=x.dtype)
    out[:, top:top + h, left:left + w] = x.transpose(0, 2, 3, 1)
    return out


def _chunks(n, th, tw, channels, itemsize):
    """Slices of the N images, each with about ``_CHUNK_BYTES`` of transformed tiles (16·th·tw·channels each)."""
    per_image = 16 * th * tw * channels * itemsize
    size = max(1, min(n, _CHUNK_BYTES // per_image))
    return [slice(s, s + size) for s in range(0, n, size)]


def _on_threads(task, chunks):
    """``task(chunk)`` for every chunk, shared out between threads, each thread's BLAS on one thread."""
    def part(chunks_part):
        with blas_threads_local(1):
            for chunk in chunks_part:
                task(chunk)
    _by_blocks(part, chunks)


# ----- the three convolutions -----
# Backprop runs a convolution's weight gradient right after its input transpose, both on the same g, and the last
# convolution of the forward pass is the first of the backward one: ``_kept`` holds the transformed tiles of the
# latest forward input (V) and cotangent (dM), each with the array it came from, and the weight gradient uses them
# when it is given those very arrays (``is``), instead of transforming them again. One of each at a time: memory
# stays bounded by one layer's tiles.

_kept: dict = {}


def _keep(kind, source, key, tiles):
    _kept[kind] = (source, key, tiles)


def _take(kind, source, key):
    """The tiles kept for exactly ``source`` (the same array object) and ``key``, else None; forgotten either way."""
    kept = _kept.pop(kind, None)
    return kept[2] if kept is not None and kept[0] is source and kept[1] == key else None


def conv3x3(x, w, padding, out_hw):
    """Σ_c w[o, c] ⋆ x̃[n, c] for x (N, C, H, W), w (O, C, 3, 3), x̃ zero-padded by ``padding``: (N, O, Ho, Wo),
    an NCHW view of channels-last memory."""
    n = x.shape[0]
    o = w.shape[0]
    th, tw = _geometry(out_hw)
    xp = _padded(x, padding, th, tw)
    u = _filter_tiles(w)
    out = np.empty((n, 2 * th, 2 * tw, o), dtype=x.dtype)
    chunks = _chunks(n, th, tw, max(x.shape[1], o), x.dtype.itemsize)
    tiles = {}

    def task(chunk):
        v = tiles[chunk.start] = _input_tiles(xp[chunk], th, tw)
        _output_tiles(np.matmul(v, u), out[chunk].shape[0], th, tw, out[chunk])
    _on_threads(task, chunks)
    _keep("input", x, (padding, th, tw, o), tiles)
    return out[:, :out_hw[0], :out_hw[1]].transpose(0, 3, 1, 2)


def _grad_rows(g, th, tw):
    """g (N, O, Ho, Wo) channels-last, zero-extended to (N, 2th, 2tw, O) (a view when Ho and Wo are even)."""
    n, o, ho, wo = g.shape
    rows = g.transpose(0, 2, 3, 1)
    if (ho, wo) == (2 * th, 2 * tw):
        return rows
    out = np.zeros((n, 2 * th, 2 * tw, o), dtype=g.dtype)
    out[:, :ho, :wo] = rows
    return out


def conv3x3_input(g, w, x_shape, padding):
    """The transpose of ``conv3x3`` in x: g (N, O, Ho, Wo) → (N, C, H, W), an NCHW view of channels-last memory."""
    n, c, h, wd = x_shape
    (top, _), (left, _) = padding
    th, tw = _geometry(g.shape[2:])
    gr = _grad_rows(g, th, tw)
    ut = (_filter_tiles(w) * _SIGNS.astype(w.dtype)).transpose(0, 2, 1)
    out = np.zeros((n, 2 * th + 2, 2 * tw + 2, c), dtype=g.dtype)
    tiles = {}

    def task(chunk):
        dm = tiles[chunk.start] = _grad_tiles(gr[chunk], th, tw)
        _input_untiles(np.matmul(dm, ut), out[chunk].shape[0], th, tw, out[chunk])
    _on_threads(task, _chunks(n, th, tw, max(c, g.shape[1]), g.dtype.itemsize))
    _keep("grad", g, (th, tw, c), tiles)
    return out[:, top:top + h, left:left + wd].transpose(0, 3, 1, 2)


def conv3x3_weight(x, g, padding):
    """The transpose of ``conv3x3`` in w: Σ over images and tiles, (O, C, 3, 3)."""
    n, c = x.shape[:2]
    o = g.shape[1]
    th, tw = _geometry(g.shape[2:])
    inputs, grads = _take("input", x, (padding, th, tw, o)), _take("grad", g, (th, tw, c))
    xp = _padded(x, padding, th, tw) if inputs is None else None
    gr = _grad_rows(g, th, tw) if grads is None else None
    chunks = _chunks(n, th, tw, max(c, o), x.dtype.itemsize)
    sums = {}

    def task(chunk):
        v = _input_tiles(xp[chunk], th, tw) if inputs is None else inputs[chunk.start]
        dm = _grad_tiles(gr[chunk], th, tw) if grads is None else grads[chunk.start]
        sums[chunk.start] = np.matmul(v.transpose(0, 2, 1), dm)
    _on_threads(task, chunks)
    du = sum(sums[chunk.start] for chunk in chunks)  # added in chunk order: same bits always
    du = (du * _SIGNS.astype(du.dtype)).reshape(4, 4, c, o)
    gm = _G.astype(x.dtype)
    return np.einsum("ip,ijco,jq->ocpq", gm, du, gm)


__all__ = ["applies", "conv3x3", "conv3x3_input", "conv3x3_weight"]
