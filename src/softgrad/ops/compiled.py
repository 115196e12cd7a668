"""softgrad's loops compiled by Numba, when it is installed (``pip install softgrad[fast]``): the few passes that
NumPy cannot make in one sweep over memory. Every kernel has a NumPy path beside it (used without Numba, or with
``SOFTGRAD_NUMBA=0``), and ``tests/test_compiled.py`` checks each against it or against its matrix.

``kernel(name)`` returns the compiled function (None without Numba). Compiled on first use per dtype and layout
and cached on disk (the first process to use them takes ~0.3 s to load Numba and the cached kernels, ~1 s the
very first time, compiling them); each releases the GIL, so the pool's threads run them chunk by chunk side by
side.

**Winograd's transforms** (``winograd._both_axes``): each of the four applies a small matrix M (Bᵀ, Aᵀ or their
transposes) along the two leading axes of a chunk's tiles, (a, a, X) → (k, k, X), as 2-D passes ``kernel(src,
out)``: out[r, x] = Σ_p M[r, p] src[p, x]. BLAS does each pass as a product with 6 rows, which runs at a quarter of
the speed of a plain copy of the data (108 µs against 30 for a 1 MB chunk on this project's machine); the loops
below read each column of a cells once and write its k results, one pass at about copy speed (42 µs). Where a
transform meets the image (the input's tiles gathered, the output's and the input gradient's scattered or
overlap-added back, ReLU or its derivative applied on the way), that copy and the neighbouring pass are one sweep
(``*_image``; the 32→64 layer of the MNIST net: the step 44 → 40 ms on one core, 30 → 25.5 ms on two). Their
tiles are (·, ·, G, tiles, C/G), group-major, so that a grouped convolution's products are G GEMMs on contiguous
blocks (G = 1 without groups; the 2-D passes between them see one flat axis either way). F(3×3, 5×5)'s
(``BT7``, ``B7``, ``AT3``, ``A3`` and their ``*_image``) use 7×7 tiles 3 apart: the input gradient's ``B3_image``
overlap-adds each tile into up to nine places, zeroing its images first. A max-pool right after the convolution
hands its backward over uncomputed (``trace.StandIn``): ``A_pooled`` reads the pool's cotangent and each window's
first maximum as it gathers g's tiles, so the x-sized scatter is never written out and read back. The arithmetic is M's own, its integer entries written out (±1 as additions);
only the rounding order differs.

**Few calls from Python.** Every call from a pool thread into a kernel gives the GIL back and takes it again on
return; the other thread, between its own kernels, waits for it. A transform's passes over its slabs therefore
loop inside one compiled call (``slabs``, ``AT_image``, ``B_image``: 6 calls a chunk where there were 20) and the
Winograd chunks are larger (4 MB): the 32→64 layer's forward at two threads 5.3 → 4.5 ms, at one 2 % faster.

**Max pooling over windows that tile the input** (stride = kernel, undilated: ``nn_kernels``): the maxima and
each window's first maximum (its offset, one byte) in one pass over the windows, the innermost loop over the
contiguous channels (selects, no branches, so LLVM vectorises it); the backward's scatter of g, and ``A_pooled``,
read that offset instead of comparing the window's cells with its maximum again. NumPy needs a pass per offset
and boolean temporaries: on the MNIST net's pool (64×64×24×24, one core) the forward takes 0.82-0.85 ms with
the offsets (0.65-0.75 without them, NumPy 0.94-0.99) and the backward's scatter 0.69-0.84 ms (1.45-1.57
comparing the cells again, NumPy 3.2); read inside the 32→64 convolution's input transpose, 11.5 → 9.8 ms.
They write and read the pooled maxima and g as (N, C, Ho, Wo) C-contiguous, PyTorch's layout, so that a flatten
after the pool is a view; x is channels-last (the convolutions' output). A 2×2 pool right after a Winograd
convolution (``nn_kernels.conv2d_bias_pool``) is made inside its inverse transform, from the tile values in
registers (``AT_image_pooled``): the convolution's output is never written (the 32→64 layer's forward, two
threads, 5.9 → 4.4 ms).

**ReLU's derivative with its sums** (``relu_rule_sum``): a ReLU'd convolution's ĝ = g·(y > 0) and bias gradient
Σ ĝ in one pass where NumPy makes a copy, the product and a GEMV; for a first layer, whose windows are narrower
than its output (``window_sums``), the weight gradient Σ windowsᵀ ĝ too, ĝ never written out: on the MNIST net's
first layer (four chunks of 16 images, two threads) 1.4-1.65 → 0.8-0.9 ms, BLAS's products of the chunks having
run slower side by side than one after the other. An im2col convolution's bias and ReLU (``bias_relu``): one pass
after its product where NumPy makes two.

**Depthwise convolution** (one input channel a group: ``nn_kernels._depthwise_*``): an output row's sums in L1;
the transpose adds every window's products back into its image (a gather of each input cell's sum took 1.7× as
long), the weight gradient is summed along each output row then in float64; the padding's cells are skipped, not
copied. NumPy makes a pass over the whole chunk per kernel offset. Of stride 1 (``_depthwise_rows``) each kernel
offset is one flat loop over an output row's cells and channels (M > 1 outputs a channel: over a copy of the image
with each channel repeated M times). 64 × 32 × 26 × 26 float32, 3×3, one core, 16 images: the forward 0.42 → 0.19
ms, the input transpose 0.41 → 0.21, the weight gradient 0.37 → 0.19 (with M = 2: 4.0, 5.6, 4.0 → 0.73, 0.77,
0.76); fwd+bwd of the batch at two threads 7.5 ms (as a dense convolution, ``nn_kernels._as_dense``) → 4.7 → 2.2
(PyTorch 1.4-1.6), x copied channels-last once (``nn_kernels._kept_windows``), an NCHW x image by image inside the
forward (``_depthwise_forward_planes``: the forward on one core 2.8 → 2.2-2.4 ms). Of stride 1 on NCHW memory
(``_depthwise_planes``), plane by plane: each channel's plane zero-padded into a flat scratch of Wp columns, a
kernel offset is one flat loop over (Ho − 1)·Wp + Wo cells (the cells between rows made and dropped), and
nothing is copied channels-last: one core, the batch above, forward 1.4 → 0.65 ms, fwd+bwd 3.9-4.0 → 2.6-2.9
(PyTorch 3.2); the weight gradient's dot products reassociated (``_dot``: 282 → 21 ns for a plane's 622 cells).

**im2col and its transpose** (every convolution off Winograd's path: strides, kernels other than 3×3, groups):
``im2col`` copies each window's cells straight from x (no padded copy first, no strided copy per offset) and
``col2im`` adds every window back in one pass over the columns, where NumPy adds a strided pass over the image per
offset (64 × 32 × 26 × 26 by a 5×5 kernel, one image, one core: col2im 0.38 → 0.076 ms).
fwd+bwd at two threads, 5×5: 115 → 95 ms (col2im) → 70 (im2col), PyTorch 42-48; 3×3 of stride 2: 12.1 → 10.7 →
7.8, PyTorch 6.0. **A dilated convolution's phases** (``gather_cells``, ``winograd``) are laid out and back
at copy speed (0.38 ms where NumPy's strided copies took 0.95).
"""

from __future__ import annotations

import functools
import os
import threading

import numpy as np


@functools.cache
def _numba():
    switch = os.environ.get("SOFTGRAD_NUMBA", "1")
    if switch not in ("0", "1"):
        raise ValueError(f"the environment variable SOFTGRAD_NUMBA must be 0 (off) or 1 (on, the default), "
                         f"got {switch!r}")
    if switch == "0":
        return None
    try:
        import numba
    except ImportError:
        return None
    return numba


def available() -> bool:
    """Whether the compiled kernels are in use: Numba importable and ``SOFTGRAD_NUMBA`` not 0."""
    return _numba() is not None


# ----- Winograd's transforms -----
# Each matrix's rows, written out once (``_bt``, ``_b``, ``_at``, ``_a``: inlined into every kernel that uses it,
# ``_helpers``), its integer entries in the data's dtype (k2, k4, k5, k8: a Python int would promote float32 to
# float64).


def _bt(d0, d1, d2, d3, d4, d5, k2, k4, k5):
    """Bᵀ (6×6) · d: the input transform."""
    return (k4 * d0 - k5 * d2 + d4, -k4 * d1 - k4 * d2 + d3 + d4, k4 * d1 - k4 * d2 - d3 + d4,
            -k2 * d1 - d2 + k2 * d3 + d4, k2 * d1 - d2 - k2 * d3 + d4, k4 * d1 - k5 * d3 + d5)


def _b(d0, d1, d2, d3, d4, d5, k2, k4, k5):
    """B (6×6) · d: the input transpose's, Bᵀ transposed."""
    return (k4 * d0, -k4 * d1 + k4 * d2 - k2 * d3 + k2 * d4 + k4 * d5, -k5 * d0 - k4 * d1 - k4 * d2 - d3 - d4,
            d1 - d2 + k2 * d3 - k2 * d4 - k5 * d5, d0 + d1 + d2 + d3 + d4, d5)


def _at(d0, d1, d2, d3, d4, d5, k2, k4, k8):
    """Aᵀ (4×6) · d: the output transform."""
    return (d0 + d1 + d2 + d3 + d4, d1 - d2 + k2 * d3 - k2 * d4, d1 + d2 + k4 * d3 + k4 * d4,
            d1 - d2 + k8 * d3 - k8 * d4 + d5)


def _a(d0, d1, d2, d3, k2, k4, k8):
    """A (6×4) · d: the gradient's tiles, Aᵀ transposed."""
    return (d0, d0 + d1 + d2 + d3, d0 - d1 + d2 - d3, d0 + k2 * d1 + k4 * d2 + k8 * d3,
            d0 - k2 * d1 + k4 * d2 - k8 * d3, d3)


# F(3×3, 5×5)'s, at the points 0, ±1, ±2, 1/2 and ∞ (``winograd``): ``k`` its integer entries 2, 3, 4, 5, 7, 8,
# 9, 10, 12 in the data's dtype (``_sevens``).


def _sevens(a):
    """F(3×3, 5×5)'s integer entries in the dtype of the array ``a``."""
    t = a.dtype.type
    return t(2), t(3), t(4), t(5), t(7), t(8), t(9), t(10), t(12)


def _bt7(d0, d1, d2, d3, d4, d5, d6, k):
    """Bᵀ₇ (7×7) · d: F(3×3, 5×5)'s input transform."""
    k2, k3, k4, k5, k7, k8, k9, k10, k12 = k
    return (-k4 * d0 + k8 * d1 + k5 * d2 - k10 * d3 - d4 + k2 * d5, k4 * d1 - k4 * d2 - k9 * d3 + d4 + k2 * d5,
            -k4 * d1 + k12 * d2 - k7 * d3 - k3 * d4 + k2 * d5, k2 * d1 - k3 * d2 - k4 * d3 + k3 * d4 + k2 * d5,
            -k2 * d1 + k5 * d2 - k5 * d4 + k2 * d5, k4 * d1 - k5 * d3 + d5,
            -k4 * d1 + k8 * d2 + k5 * d3 - k10 * d4 - d5 + k2 * d6)


def _b7(d0, d1, d2, d3, d4, d5, d6, k):
    """B₇ (7×7) · d: F(3×3, 5×5)'s input transpose, Bᵀ₇ transposed."""
    k2, k3, k4, k5, k7, k8, k9, k10, k12 = k
    return (-k4 * d0, k8 * d0 + k4 * d1 - k4 * d2 + k2 * d3 - k2 * d4 + k4 * d5 - k4 * d6,
            k5 * d0 - k4 * d1 + k12 * d2 - k3 * d3 + k5 * d4 + k8 * d6,
            -k10 * d0 - k9 * d1 - k7 * d2 - k4 * d3 - k5 * d5 + k5 * d6,
            -d0 + d1 - k3 * d2 + k3 * d3 - k5 * d4 - k10 * d6, k2 * (d0 + d1 + d2 + d3 + d4) + d5 - d6, k2 * d6)


def _at3(d0, d1, d2, d3, d4, d5, d6, k2, k4):
    """Aᵀ₃ (3×7) · d: F(3×3, 5×5)'s output transform."""
    return (d0 + d1 + d2 + d3 + d4 + k4 * d5, d1 - d2 + k2 * d3 - k2 * d4 + k2 * d5,
            d1 + d2 + k4 * d3 + k4 * d4 + d5 + d6)


def _a3(d0, d1, d2, k2, k4):
    """A₃ (7×3) · d: F(3×3, 5×5)'s gradient's tiles, Aᵀ₃ transposed."""
    return d0, d0 + d1 + d2, d0 - d1 + d2, d0 + k2 * d1 + k4 * d2, d0 - k2 * d1 + k4 * d2, k4 * d0 + k2 * d1 + d2, d2


# The 2-D passes out[:, x] = M · src[:, x] (``winograd._both_axes``).


def _bt_rows(src, out):
    """M = Bᵀ."""
    k2, k4, k5 = src.dtype.type(2), src.dtype.type(4), src.dtype.type(5)
    for x in range(src.shape[1]):
        (out[0, x], out[1, x], out[2, x], out[3, x], out[4, x],
         out[5, x]) = _bt(src[0, x], src[1, x], src[2, x], src[3, x], src[4, x], src[5, x], k2, k4, k5)


def _b_rows(src, out):
    """M = B."""
    k2, k4, k5 = src.dtype.type(2), src.dtype.type(4), src.dtype.type(5)
    for x in range(src.shape[1]):
        (out[0, x], out[1, x], out[2, x], out[3, x], out[4, x],
         out[5, x]) = _b(src[0, x], src[1, x], src[2, x], src[3, x], src[4, x], src[5, x], k2, k4, k5)


def _at_rows(src, out):
    """M = Aᵀ."""
    k2, k4, k8 = src.dtype.type(2), src.dtype.type(4), src.dtype.type(8)
    for x in range(src.shape[1]):
        out[0, x], out[1, x], out[2, x], out[3, x] = _at(src[0, x], src[1, x], src[2, x], src[3, x], src[4, x],
                                                         src[5, x], k2, k4, k8)


def _a_rows(src, out):
    """M = A."""
    k2, k4, k8 = src.dtype.type(2), src.dtype.type(4), src.dtype.type(8)
    for x in range(src.shape[1]):
        (out[0, x], out[1, x], out[2, x], out[3, x], out[4, x],
         out[5, x]) = _a(src[0, x], src[1, x], src[2, x], src[3, x], k2, k4, k8)


def _bt7_rows(src, out):
    """M = Bᵀ₇."""
    k = _sevens(src)
    for x in range(src.shape[1]):
        (out[0, x], out[1, x], out[2, x], out[3, x], out[4, x], out[5, x],
         out[6, x]) = _bt7(src[0, x], src[1, x], src[2, x], src[3, x], src[4, x], src[5, x], src[6, x], k)


def _b7_rows(src, out):
    """M = B₇."""
    k = _sevens(src)
    for x in range(src.shape[1]):
        (out[0, x], out[1, x], out[2, x], out[3, x], out[4, x], out[5, x],
         out[6, x]) = _b7(src[0, x], src[1, x], src[2, x], src[3, x], src[4, x], src[5, x], src[6, x], k)


def _at3_rows(src, out):
    """M = Aᵀ₃."""
    k2, k4 = src.dtype.type(2), src.dtype.type(4)
    for x in range(src.shape[1]):
        out[0, x], out[1, x], out[2, x] = _at3(src[0, x], src[1, x], src[2, x], src[3, x], src[4, x], src[5, x],
                                               src[6, x], k2, k4)


def _a3_rows(src, out):
    """M = A₃."""
    k2, k4 = src.dtype.type(2), src.dtype.type(4)
    for x in range(src.shape[1]):
        (out[0, x], out[1, x], out[2, x], out[3, x], out[4, x], out[5, x],
         out[6, x]) = _a3(src[0, x], src[1, x], src[2, x], k2, k4)


PASSES = ("BT", "B", "AT", "A", "BT7", "A3")  # ``_slabs``' which (B7 and AT3 run on one slab only)


def _slabs(which, src, out):
    """The 2-D pass of matrix ``PASSES[which]`` on every slab: src[r] → out[r], src (k, a, X), out (k, k', X): one
    call from Python for a transform's second axis instead of one a slab (each call takes and gives back the GIL,
    which the pool's other threads wait for; a loop nest over the three axes ran at half the speed)."""
    for r in range(src.shape[0]):
        if which == 0:
            _bt_rows(src[r], out[r])
        elif which == 1:
            _b_rows(src[r], out[r])
        elif which == 2:
            _at_rows(src[r], out[r])
        elif which == 3:
            _a_rows(src[r], out[r])
        elif which == 4:
            _bt7_rows(src[r], out[r])
        else:
            _a3_rows(src[r], out[r])


# The passes that meet an image (n, H, W, C) channels-last, tile t = (a·th + i)·tw + j at rows 4i…, columns 4j…:
# the gather of the tiles fused with the first pass, the second pass with the scatter (and the activation, or its
# derivative). One sweep over the image instead of a NumPy copy plus a 2-D pass: on a chunk of the MNIST net's
# 32→64 layer (6 images, one core) the output side 309 → 209 µs.


def _tile(t, th, tw, step=4):
    """Tile t's image and the row and column of its top-left cell: (a, step·i, step·j), t = (a·th + i)·tw + j
    (``step``: its output tile's size, 4 for F(4×4, 3×3), 3 for F(3×3, 5×5))."""
    a, rest = divmod(t, th * tw)
    i, j = divmod(rest, tw)
    return a, step * i, step * j


def _bt_image(xp, th, tw, out):
    """out[r, q, g, t, c'] = Σ_p Bᵀ[r, p] xp[a, 4i + p, 4j + q, g·C' + c']: the 6×6 tiles d of xp (n, 4th + 2,
    4tw + 2, C) and the first pass of Bᵀ d B, out (6, 6, G, n·th·tw, C') group-major (G = 1: no groups)."""
    k2, k4, k5 = xp.dtype.type(2), xp.dtype.type(4), xp.dtype.type(5)
    groups, width = out.shape[2], out.shape[4]
    for t in range(xp.shape[0] * th * tw):
        a, row, column = _tile(t, th, tw)
        for q in range(6):
            for g in range(groups):
                for k in range(width):
                    c = g * width + k
                    (out[0, q, g, t, k], out[1, q, g, t, k], out[2, q, g, t, k], out[3, q, g, t, k],
                     out[4, q, g, t, k], out[5, q, g, t, k]) = _bt(
                        xp[a, row, column + q, c], xp[a, row + 1, column + q, c], xp[a, row + 2, column + q, c],
                        xp[a, row + 3, column + q, c], xp[a, row + 4, column + q, c], xp[a, row + 5, column + q, c],
                        k2, k4, k5)


def _a_image(g, y, relu, th, tw, out):
    """out[r, q, h, t, o'] = Σ_p A[r, p] ĝ[a, 4i + p, 4j + q, h·O' + o'], ĝ = g, or g·(y > 0) with ``relu`` (y the
    ReLU's output, as g): the 4×4 tiles of g (n, Ho, Wo, O) and the first pass of A ĝ Aᵀ, out (6, 4, G, n·th·tw,
    O') group-major. g is read in place: the cells of the last tiles past its last row or column are zeros (no
    zero-extended copy of g, a fresh array each step)."""
    k2, k4, k8 = g.dtype.type(2), g.dtype.type(4), g.dtype.type(8)
    one, zero = g.dtype.type(1), g.dtype.type(0)
    ho, wo = g.shape[1], g.shape[2]
    groups, width = out.shape[2], out.shape[4]
    for t in range(g.shape[0] * th * tw):
        a, row, column = _tile(t, th, tw)  # (row < Ho, column < Wo: th = ⌈Ho / 4⌉, tw = ⌈Wo / 4⌉)
        second, third, fourth = row + 1 < ho, row + 2 < ho, row + 3 < ho
        r1, r2, r3 = min(row + 1, ho - 1), min(row + 2, ho - 1), min(row + 3, ho - 1)
        for q in range(4):
            inside = column + q < wo
            s = min(column + q, wo - 1)
            for h in range(groups):
                for k in range(width):
                    o = h * width + k
                    d0 = g[a, row, s, o] if inside else zero
                    d1 = g[a, r1, s, o] if inside and second else zero
                    d2 = g[a, r2, s, o] if inside and third else zero
                    d3 = g[a, r3, s, o] if inside and fourth else zero
                    if relu:  # (a product, as the NumPy rule's: NaN·0 stays NaN)
                        d0 *= one if y[a, row, s, o] > zero else zero
                        d1 *= one if y[a, r1, s, o] > zero else zero
                        d2 *= one if y[a, r2, s, o] > zero else zero
                        d3 *= one if y[a, r3, s, o] > zero else zero
                    (out[0, q, h, t, k], out[1, q, h, t, k], out[2, q, h, t, k], out[3, q, h, t, k],
                     out[4, q, h, t, k], out[5, q, h, t, k]) = _a(d0, d1, d2, d3, k2, k4, k8)


def _a_pooled(gp, pooled, first, kh, kw, relu, th, tw, out):
    """``_a_image`` for ĝ = S(gp)·(y > 0 with ``relu``), S the max-pool's scatter (``_pool_scatter``) of gp (n, C,
    Ho/kh, Wo/kw) to each kh×kw window's first maximum, ``first`` (n, Ho/kh, Wo/kw, C) its offset (kh·kw for
    none: a NaN maximum, ``_pool_max``) and ``pooled`` (as gp) the maxima (y > 0 at the first maximum: the
    maximum > 0), without writing S(gp) out: the pool's backward read inside the convolution's input transpose.
    Image by image, the value each window's first maximum receives, g·(max > 0), is made once, channels-last;
    the tiles then read it at the pool's resolution. Cells past the last window are 0."""
    k2, k4, k8 = out.dtype.type(2), out.dtype.type(4), out.dtype.type(8)
    one, zero = out.dtype.type(1), out.dtype.type(0)
    n, hp, wp, c = first.shape
    value, best = np.empty((hp, wp, c), gp.dtype), np.empty((hp, wp, c), pooled.dtype)
    d = np.empty((4, c), gp.dtype)
    for a in range(n):
        value[:] = gp[a].transpose(1, 2, 0)
        if relu:  # (a product, as the NumPy rule's: NaN·0 stays NaN)
            best[:] = pooled[a].transpose(1, 2, 0)
            for wi in range(hp):
                for wj in range(wp):
                    for o in range(c):
                        value[wi, wj, o] *= one if best[wi, wj, o] > zero else zero
        for t in range(a * th * tw, (a + 1) * th * tw):
            _, top, left = _tile(t, th, tw)
            for q in range(4):
                column = left + q
                for p in range(4):
                    row = top + p
                    if row >= hp * kh or column >= wp * kw:
                        d[p, :] = zero
                        continue
                    wi, wj = row // kh, column // kw
                    offset = (row - wi * kh) * kw + column - wj * kw
                    for o in range(c):
                        d[p, o] = value[wi, wj, o] if first[a, wi, wj, o] == offset else zero
                for o in range(c):
                    (out[0, q, t, o], out[1, q, t, o], out[2, q, t, o], out[3, q, t, o], out[4, q, t, o],
                     out[5, q, t, o]) = _a(d[0, o], d[1, o], d[2, o], d[3, o], k2, k4, k8)


def _at_image_row(src, r, relu, th, tw, out):
    """out[a, 4i + r, 4j + s, g·O' + o'] = Σ_q Aᵀ[s, q] src[q, g, t, o'] (through max(·, 0) with ``relu``): row r of
    every output tile, the second pass of Aᵀ M A, from src (6, G, n·th·tw, O') group-major into the output (n,
    4th, 4tw, O)."""
    k2, k4, k8 = src.dtype.type(2), src.dtype.type(4), src.dtype.type(8)
    zero = src.dtype.type(0)
    groups, width = src.shape[1], src.shape[3]
    for a in range(out.shape[0]):
        for i in range(th):
            row = 4 * i + r
            for j in range(tw):
                t = (a * th + i) * tw + j
                for g in range(groups):
                    for k in range(width):
                        o = g * width + k
                        y0, y1, y2, y3 = _at(src[0, g, t, k], src[1, g, t, k], src[2, g, t, k], src[3, g, t, k],
                                             src[4, g, t, k], src[5, g, t, k], k2, k4, k8)
                        if relu:  # (NaN stays NaN, as in np.maximum)
                            y0 = y0 if (y0 > zero) | (y0 != y0) else zero
                            y1 = y1 if (y1 > zero) | (y1 != y1) else zero
                            y2 = y2 if (y2 > zero) | (y2 != y2) else zero
                            y3 = y3 if (y3 > zero) | (y3 != y3) else zero
                        out[a, row, 4 * j, o], out[a, row, 4 * j + 1, o] = y0, y1
                        out[a, row, 4 * j + 2, o], out[a, row, 4 * j + 3, o] = y2, y3


def _at_image(rows, relu, th, tw, out):
    """``_at_image_row`` for r = 0…3, rows (4, 6, G, n·th·tw, O'): the second pass of Aᵀ M A into the output."""
    for r in range(4):
        _at_image_row(rows[r], r, relu, th, tw, out)


def _at_image_pooled(rows, relu, th, tw, pooled, first):
    """The second pass of Aᵀ M A (through max(·, 0) with ``relu``) of rows (4, 6, n·th·tw, O), pooled over the
    2×2 windows of stride 2 as it is made, the output itself never written: pooled[a, i, j, o] the window's maximum
    and first[a, i, j, o] its first offset, row-major (4 for a NaN maximum), as ``_pool_max`` makes them from the
    output, for pooled and first (n, H // 2, W // 2, O), rows and columns past the last window left out. A 4×4
    output tile holds 2×2 whole windows: a conv → ReLU → max-pool layer in one sweep (``winograd.conv3x3``)."""
    k2, k4, k8 = rows.dtype.type(2), rows.dtype.type(4), rows.dtype.type(8)
    zero = rows.dtype.type(0)
    n, hp, wp, o_count = pooled.shape
    for t in range(n * th * tw):
        a, top, left = _tile(t, th, tw)
        for r in range(4):
            i = (top + r) // 2
            if i >= hp:
                break
            offset = (r % 2) * 2  # (of the window's left cell on this row)
            for s in range(2):
                j = left // 2 + s
                if j >= wp:
                    break
                for o in range(o_count):
                    y0, y1, y2, y3 = _at(rows[r, 0, t, o], rows[r, 1, t, o], rows[r, 2, t, o], rows[r, 3, t, o],
                                         rows[r, 4, t, o], rows[r, 5, t, o], k2, k4, k8)
                    u, v = (y0, y1) if s == 0 else (y2, y3)
                    if relu:  # (NaN stays NaN, as in np.maximum)
                        u = u if (u > zero) | (u != u) else zero
                        v = v if (v > zero) | (v != v) else zero
                    if offset == 0:  # the window's first row: its first cell starts it
                        m, f = u, (0 if u == u else 4)
                    else:
                        m, f = pooled[a, i, j, o], first[a, i, j, o]
                        better, nan = u > m, u != u
                        m, f = (u if better | nan else m), (offset if better else (4 if nan else f))
                    better, nan = v > m, v != v
                    pooled[a, i, j, o] = v if better | nan else m
                    first[a, i, j, o] = offset + 1 if better else (4 if nan else f)


def _b_image_row(src, r, th, tw, carry, out):
    """Row r of every tile of B dV Bᵀ, the second pass, overlap-added into out (n, 4th + 2, 4tw + 2, C): the values
    src[q, g, t, c'] (group-major, src (6, G, n·th·tw, C')) → Σ_q B[s, q] src[q, g, t, c'] at (4i + r, 4j + s) of
    channel g·C' + c'. A tile's columns 4 and 5 are the next tile's 0 and 1 (``carry`` (2, C) holds them along
    the row); its rows 4 and 5 the next tile's 0 and 1: the passes r = 0…3 write their rows, r = 4, 5 add onto the
    next tile's (the last tile row's, write)."""
    k2, k4, k5 = src.dtype.type(2), src.dtype.type(4), src.dtype.type(5)
    groups, width = src.shape[1], src.shape[3]
    for a in range(out.shape[0]):
        for i in range(th):
            row, add = 4 * i + r, r >= 4 and i + 1 < th
            for j in range(tw):
                t = (a * th + i) * tw + j
                for g in range(groups):
                    for k in range(width):
                        c = g * width + k
                        v0, v1, v2, v3, v4, v5 = _b(src[0, g, t, k], src[1, g, t, k], src[2, g, t, k],
                                                    src[3, g, t, k], src[4, g, t, k], src[5, g, t, k], k2, k4, k5)
                        if j > 0:
                            v0, v1 = v0 + carry[0, c], v1 + carry[1, c]
                        carry[0, c], carry[1, c] = v4, v5
                        if add:
                            out[a, row, 4 * j, c] += v0
                            out[a, row, 4 * j + 1, c] += v1
                            out[a, row, 4 * j + 2, c] += v2
                            out[a, row, 4 * j + 3, c] += v3
                        else:
                            out[a, row, 4 * j, c], out[a, row, 4 * j + 1, c] = v0, v1
                            out[a, row, 4 * j + 2, c], out[a, row, 4 * j + 3, c] = v2, v3
            for c in range(out.shape[3]):  # the row's last two columns: the last tile's 4 and 5
                if add:
                    out[a, row, 4 * tw, c] += carry[0, c]
                    out[a, row, 4 * tw + 1, c] += carry[1, c]
                else:
                    out[a, row, 4 * tw, c], out[a, row, 4 * tw + 1, c] = carry[0, c], carry[1, c]


def _b_image(rows, th, tw, carry, out):
    """``_b_image_row`` for r = 0…5, rows (6, 6, G, n·th·tw, C'): B dV Bᵀ overlap-added into out (rows 4, 5 last)."""
    for r in range(6):
        _b_image_row(rows[r], r, th, tw, carry, out)


# F(3×3, 5×5)'s (``winograd.conv5x5``): tiles 7×7, 3 apart, so that each input cell is in up to nine of them.


def _bt7_image(xp, th, tw, out):
    """out[r, q, g, t, c'] = Σ_p Bᵀ₇[r, p] xp[a, 3i + p, 3j + q, g·C' + c']: the 7×7 tiles d of xp (n, 3th + 4,
    3tw + 4, C) and the first pass of Bᵀ₇ d B₇, out (7, 7, G, n·th·tw, C') group-major."""
    k = _sevens(xp)
    groups, width = out.shape[2], out.shape[4]
    for t in range(xp.shape[0] * th * tw):
        a, row, column = _tile(t, th, tw, 3)
        for q in range(7):
            for g in range(groups):
                for j in range(width):
                    c = g * width + j
                    (out[0, q, g, t, j], out[1, q, g, t, j], out[2, q, g, t, j], out[3, q, g, t, j],
                     out[4, q, g, t, j], out[5, q, g, t, j], out[6, q, g, t, j]) = _bt7(
                        xp[a, row, column + q, c], xp[a, row + 1, column + q, c], xp[a, row + 2, column + q, c],
                        xp[a, row + 3, column + q, c], xp[a, row + 4, column + q, c], xp[a, row + 5, column + q, c],
                        xp[a, row + 6, column + q, c], k)


def _a3_image(g, th, tw, out):
    """out[r, q, h, t, o'] = Σ_p A₃[r, p] g[a, 3i + p, 3j + q, h·O' + o']: the 3×3 tiles of g (n, Ho, Wo, O) and
    the first pass of A₃ g Aᵀ₃, out (7, 3, G, n·th·tw, O') group-major. g is read in place: the cells of the last
    tiles past its last row or column are zeros (no zero-extended copy of g, a fresh array each step)."""
    k2, k4 = g.dtype.type(2), g.dtype.type(4)
    zero = g.dtype.type(0)
    ho, wo = g.shape[1], g.shape[2]
    groups, width = out.shape[2], out.shape[4]
    for t in range(g.shape[0] * th * tw):
        a, row, column = _tile(t, th, tw, 3)  # (row < Ho, column < Wo: th = ⌈Ho / 3⌉, tw = ⌈Wo / 3⌉)
        second, third = row + 1 < ho, row + 2 < ho
        r1, r2 = min(row + 1, ho - 1), min(row + 2, ho - 1)
        for q in range(3):
            inside = column + q < wo
            s = min(column + q, wo - 1)
            for h in range(groups):
                for j in range(width):
                    o = h * width + j
                    d0 = g[a, row, s, o] if inside else zero
                    d1 = g[a, r1, s, o] if inside and second else zero
                    d2 = g[a, r2, s, o] if inside and third else zero
                    (out[0, q, h, t, j], out[1, q, h, t, j], out[2, q, h, t, j], out[3, q, h, t, j],
                     out[4, q, h, t, j], out[5, q, h, t, j], out[6, q, h, t, j]) = _a3(d0, d1, d2, k2, k4)


def _at3_image(rows, relu, th, tw, out):
    """out[a, 3i + r, 3j + s, g·O' + o'] = Σ_q Aᵀ₃[s, q] rows[r, q, g, t, o'] (through max(·, 0) with ``relu``): the
    second pass of Aᵀ₃ M A₃ from rows (3, 7, G, n·th·tw, O') into the output (n, 3th, 3tw, O)."""
    k2, k4 = rows.dtype.type(2), rows.dtype.type(4)
    zero = rows.dtype.type(0)
    groups, width = rows.shape[2], rows.shape[4]
    for t in range(out.shape[0] * th * tw):
        a, row, column = _tile(t, th, tw, 3)
        for r in range(3):
            for g in range(groups):
                for j in range(width):
                    o = g * width + j
                    y0, y1, y2 = _at3(rows[r, 0, g, t, j], rows[r, 1, g, t, j], rows[r, 2, g, t, j],
                                      rows[r, 3, g, t, j], rows[r, 4, g, t, j], rows[r, 5, g, t, j],
                                      rows[r, 6, g, t, j], k2, k4)
                    if relu:  # (NaN stays NaN, as in np.maximum)
                        y0 = y0 if (y0 > zero) | (y0 != y0) else zero
                        y1 = y1 if (y1 > zero) | (y1 != y1) else zero
                        y2 = y2 if (y2 > zero) | (y2 != y2) else zero
                    out[a, row + r, column, o], out[a, row + r, column + 1, o] = y0, y1
                    out[a, row + r, column + 2, o] = y2


def _b3_image(rows, th, tw, out):
    """out[a, 3i + r, 3j + s, g·C' + c'] += Σ_q B₇[s, q] rows[r, q, g, t, c']: the second pass of B₇ dV Bᵀ₇, every
    7×7 tile (3 apart) added onto out (n, 3th + 4, 3tw + 4, C), which starts at zero (``_zero_image``)."""
    k = _sevens(rows)
    groups, width = rows.shape[2], rows.shape[4]
    for a in range(out.shape[0]):
        _zero_image(out, a)
    for t in range(out.shape[0] * th * tw):
        a, row, column = _tile(t, th, tw, 3)
        for r in range(7):
            for g in range(groups):
                for j in range(width):
                    c = g * width + j
                    v0, v1, v2, v3, v4, v5, v6 = _b7(rows[r, 0, g, t, j], rows[r, 1, g, t, j], rows[r, 2, g, t, j],
                                                     rows[r, 3, g, t, j], rows[r, 4, g, t, j], rows[r, 5, g, t, j],
                                                     rows[r, 6, g, t, j], k)
                    out[a, row + r, column, c] += v0
                    out[a, row + r, column + 1, c] += v1
                    out[a, row + r, column + 2, c] += v2
                    out[a, row + r, column + 3, c] += v3
                    out[a, row + r, column + 4, c] += v4
                    out[a, row + r, column + 5, c] += v5
                    out[a, row + r, column + 6, c] += v6


# ----- an activation's forward -----


def _sigmoid_select(x, e, r):
    """e ← r where x ≥ 0, else e·r (flat, one length): the stable sigmoid's last step, 1/(1+e) or e/(1+e) by x's
    sign (``elementwise._stable_sigmoid``), a select LLVM vectorises where NumPy's where branches a cell."""
    for i in range(x.size):
        e[i] = r[i] if x[i] >= 0 else e[i] * r[i]


def _select(condition, x, y, out):
    """out[i] = x[i] if condition[i] else y[i], flat (x or y of one element: that value everywhere): np.where as a
    select LLVM vectorises (``elementwise.select``)."""
    x_one, y_one = len(x) == 1, len(y) == 1
    for i in range(len(out)):
        out[i] = (x[0] if x_one else x[i]) if condition[i] else (y[0] if y_one else y[i])


def _huber(which, x, y, width, c, w, s, g, out):
    """Flat, of one length, d = x − y, a = |d|: ``which`` 0, out = c·d² for a < width, w·(a − ½width) beyond; 1,
    out = g·(d/s inside, w·sign(d) beyond) (g of one element: that value everywhere): smooth_l1 and huber
    (``losses._constants``), NumPy's operations in its order, the constants in the data's dtype: one pass where
    NumPy makes seven. Both sides are computed and one kept (a select, vectorised: a branch on the data's a <
    width was mispredicted, 4 ns a cell)."""
    t = x.dtype.type
    bound, c, w, s, half = t(width), t(c), t(w), t(s), t(0.5 * width)
    one, zero = t(1), t(0)
    if which == 0:
        for i in range(len(out)):
            d = x[i] - y[i]
            a = abs(d)
            inside, beyond = c * (d * d), w * (a - half)
            out[i] = inside if a < bound else beyond
        return
    g_one = len(g) == 1
    for i in range(len(out)):
        d = x[i] - y[i]
        a = abs(d)
        inside, beyond = d / s, w * (one if d > zero else (-one if d < zero else d))  # (sign: NaN stays NaN)
        out[i] = (g[0] if g_one else g[i]) * (inside if a < bound else beyond)


# ----- an activation's derivative -----


def _bias_relu(out, bias, relu):
    """out ← out + bias, through max(·, 0) with ``relu`` (NaN stays NaN, as in np.maximum), in place, for out
    (R, O) and bias (O,): an im2col convolution's epilogue in one pass where NumPy makes two (0.31 → 0.16 ms a
    chunk of the MNIST net's first layer, one core)."""
    zero = out.dtype.type(0)
    for r in range(out.shape[0]):
        for o in range(out.shape[1]):
            v = out[r, o] + bias[o]
            out[r, o] = v if (v > zero) | (v != v) | (not relu) else zero


def _relu_rule_sum(g, y, out, total):
    """out = g·(y > 0) (a product, as the NumPy rule's: NaN·0 stays NaN) and total += Σ over the rows of out, for
    g, y, out (n, H, W, C) and total (C,) float64: a ReLU'd convolution's ĝ and bias gradient in one pass
    (``nn_kernels._im2col_weight``), where NumPy makes a copy, the product and a GEMV 1ᵀĝ."""
    one, zero = g.dtype.type(1), g.dtype.type(0)
    for a in range(g.shape[0]):
        for i in range(g.shape[1]):
            for j in range(g.shape[2]):
                for c in range(g.shape[3]):
                    v = g[a, i, j, c] * (one if y[a, i, j, c] > zero else zero)
                    out[a, i, j, c] = v
                    total[c] += v


def _window_sums(cols, g, y, relu, dw, total):
    """dw[k, o] += Σ_r cols[r, k]·ĝ[r, o] and total[o] += Σ_r ĝ[r, o], ĝ = g·(y > 0) with ``relu`` (a product, as
    the NumPy rule's: NaN·0 stays NaN) else g, for a convolution's windows cols (R, K) and g, y (R, O), dw (K, O)
    and total (O,) float64: a first layer's weight and bias gradients in one pass (K < O), ĝ never written out;
    summed in the data's dtype over blocks of ``_BLOCK`` rows, then in float64. (BLAS's product of colsᵀ and ĝ,
    on two threads at once, took longer than both one after the other.)"""
    one, zero = g.dtype.type(1), g.dtype.type(0)
    rows, k_count = cols.shape
    o_count = g.shape[1]
    part, part_total = np.empty((k_count, o_count), g.dtype), np.empty(o_count, g.dtype)
    grad = np.empty(o_count, g.dtype)
    for start in range(0, rows, _BLOCK):
        part[:] = zero
        part_total[:] = zero
        for r in range(start, min(start + _BLOCK, rows)):
            for o in range(o_count):
                v = g[r, o] * (one if y[r, o] > zero else zero) if relu else g[r, o]
                grad[o] = v
                part_total[o] += v
            for k in range(k_count):
                c = cols[r, k]
                for o in range(o_count):
                    part[k, o] += c * grad[o]
        for k in range(k_count):
            for o in range(o_count):
                dw[k, o] += part[k, o]
        for o in range(o_count):
            total[o] += part_total[o]


_BLOCK = 64  # ``_window_sums``' rows summed in the data's dtype


# ----- max pooling over windows that tile x: x (n, Ho, kh, Wo, kw, C), the pooled and g (n, C, Ho, Wo) -----
# (x is the channels-last input with its rows and columns split into windows and offsets: a view, C-contiguous
# when the windows cover it exactly; indexing x[a, i·kh + p, …] of the 4-D array instead ran 1.3-1.5× slower.
# The pooled and g may have any strides: as NCHW views of channels-last memory they are read in order.)


def _pool_max(x, out, first):
    """out[a, c, i, j] = max over the window's offsets (p, q) of x[a, i, p, j, q, c], NaN if one is NaN, and
    first[a, i, j, c] = the first offset p·kw + q, row-major, where x equals it (kh·kw for none: a NaN maximum),
    in the same sweep (a strictly greater value moves it): the backward's scatter (``_pool_scatter``,
    ``_a_pooled``) then reads one integer a window instead of comparing its cells again."""
    n, ho, kh, wo, kw, c = x.shape
    none = kh * kw
    row = np.empty((wo, c), x.dtype)  # one row of windows, channels-last, before its NCHW store
    for a in range(n):
        for i in range(ho):
            for j in range(wo):
                for ch in range(c):
                    v = x[a, i, 0, j, 0, ch]
                    row[j, ch] = v
                    first[a, i, j, ch] = 0 if v == v else none
                for e in range(1, none):
                    p, q = e // kw, e % kw
                    for ch in range(c):
                        v, m = x[a, i, p, j, q, ch], row[j, ch]
                        better, nan = v > m, v != v
                        row[j, ch] = v if better | nan else m
                        first[a, i, j, ch] = e if better else (none if nan else first[a, i, j, ch])
            for ch in range(c):
                for j in range(wo):
                    out[a, ch, i, j] = row[j, ch]


def _pool_scatter(first, g, out):
    """out[a, i, p, j, q, c] = g[a, c, i, j] at the window's first maximum, offset p·kw + q = first[a, i, j, c]
    (``_pool_max``), else 0 (a NaN maximum, first = kh·kw, sends g nowhere, as in the NumPy path)."""
    n, ho, kh, wo, kw, c = out.shape
    grad = np.empty((wo, c), g.dtype)
    zero = g.dtype.type(0)
    for a in range(n):
        for i in range(ho):
            grad[:] = g[a, :, i, :].T
            for j in range(wo):
                for p in range(kh):
                    for q in range(kw):
                        e = p * kw + q
                        for ch in range(c):
                            out[a, i, p, j, q, ch] = grad[j, ch] if first[a, i, j, ch] == e else zero


# ----- depthwise convolution: x (n, H, W, C), taps (kh, kw, C·M), g and y (n, Ho, Wo, C·M) -----
# (channels innermost and contiguous, M outputs c·M + m of each input channel c; the window of output cell (i, j)
# at offset (p, q) is x's cell (i·sh + p·dh − top, j·sw + q·dw − left), left out where that falls in the padding:
# no padded copy. Each offset's terms are added in row-major order, as in the NumPy path. M = 1 has loops of its
# own, one contiguous run that LLVM vectorises.)


def _multiply_add(cell, window, by, c_count, m_count):
    """cell[c·M + m] += window[c] · by[c·M + m]: a window's channels times taps (the forward) or g (the weight
    gradient)."""
    if m_count == 1:
        for c in range(c_count):
            cell[c] += window[c] * by[c]
    else:
        for c in range(c_count):
            for m in range(c * m_count, (c + 1) * m_count):
                cell[m] += window[c] * by[m]


def _depthwise_rows(which, image, rows, taps, sh, dh, dw, top, left, out):
    """The three depthwise kernels of stride 1, output row by output row, offset by offset (p, q) along the whole
    row: row i's cells at offset q are the contiguous run image[a, r, lo + off : hi + off], off = q·dw − left, r =
    i·sh + p·dh − top, so every product is one flat loop over (j, c) from index 0 (64 × 32 × 26 × 26, 3×3, 16
    images, one core: forward 0.34 → 0.16 ms). (Numba tests an index that may be negative for wrap-around, element
    by element: computed indices kept LLVM from vectorising; and a loop over j then c runs 2× slower than one over
    both.) With M > 1 outputs a channel, each image is widened first, its channels repeated M times (so that
    channel c·M + m of the wide image meets output c·M + m; 11× faster than a loop over m inside the channels'),
    and the transpose's wide image summed over m at the end. ``which``:

    0. forward: out = rows (n, Ho, Wo, C·M), each cell's offsets added in row-major order, ``image`` = x;
    1. input transpose: out = ``image`` (n, H, W, C), zeroed, += the row's g·taps, rows = g;
    2. weight gradient: out (kh, kw, Wo·C·M) float64 += Σ over an image's rows of x·g (summed in the data's dtype),
       ``image`` = x, rows = g (``taps`` unused: a placeholder of the data's dtype).
    """
    n, ho, wo, channels = rows.shape
    h, w, c_count = image.shape[1:]
    m_count = channels // c_count
    kh, kw = taps.shape[:2]
    width = wo * channels
    zero = rows.dtype.type(0)
    along = np.empty((kh, kw, width), rows.dtype)  # the taps repeated along a row (forward, transpose), or Σ x·g
    if which < 2:
        for p in range(kh):
            for q in range(kw):
                for j in range(wo):
                    for k in range(channels):
                        along[p, q, j * channels + k] = taps[p, q, k]
    wide = np.empty((h, w, channels), rows.dtype)  # (M > 1: image a, each channel repeated M times)
    for a in range(n):
        if which == 2:
            along[:] = zero
        source = image[a]
        if m_count > 1:
            source = wide
            if which == 1:
                wide[:] = zero
            else:
                for r in range(h):
                    for s in range(w):
                        for c in range(c_count):
                            v = image[a, r, s, c]
                            for m in range(c * m_count, (c + 1) * m_count):
                                wide[r, s, m] = v
        for i in range(ho):
            row = rows[a, i].reshape(width)  # (reshape: contiguous only, so never a silent copy)
            if which == 0:
                row[:] = zero
            for p in range(kh):
                r = i * sh + p * dh - top
                if r < 0 or r >= h:
                    continue
                cells = source[r].reshape(w * channels)
                for q in range(kw):
                    off = q * dw - left
                    lo, hi = max(0, -off), min(wo, w - off)
                    if hi <= lo:
                        continue
                    run, part = cells[(lo + off) * channels:(hi + off) * channels], row[lo * channels:hi * channels]
                    by = along[p, q, lo * channels:hi * channels]
                    if which == 0:
                        for k in range(len(run)):
                            part[k] += run[k] * by[k]
                    elif which == 1:
                        for k in range(len(run)):
                            run[k] += part[k] * by[k]
                    else:
                        for k in range(len(run)):
                            by[k] += run[k] * part[k]
        if which == 1 and m_count > 1:
            for r in range(h):
                for s in range(w):
                    for c in range(c_count):
                        v = zero
                        for m in range(c * m_count, (c + 1) * m_count):
                            v += wide[r, s, m]
                        image[a, r, s, c] = v
        if which == 2:
            for p in range(kh):
                for q in range(kw):
                    for k in range(width):
                        out[p, q, k] += along[p, q, k]


def _depthwise_forward(x, taps, sh, sw, dh, dw, top, left, out):
    """out[a, i, j, c·M + m] = Σ_{p,q} x[a, i·sh + p·dh − top, j·sw + q·dw − left, c] · taps[p, q, c·M + m], an
    output cell's sum in L1 (NumPy writes and reads the whole output once per offset); of stride 1, row by row
    (``_depthwise_rows``)."""
    n, ho, wo, o = out.shape
    h, w, c_count = x.shape[1:]
    kh, kw = taps.shape[:2]
    m_count = o // c_count
    zero = out.dtype.type(0)
    if sw == 1:
        _depthwise_rows(0, x, out, taps, sh, dh, dw, top, left, out)
        return
    for a in range(n):
        for i in range(ho):
            for j in range(wo):
                cell = out[a, i, j]
                cell[:] = zero
                for p in range(kh):
                    r = i * sh + p * dh - top
                    for q in range(kw):
                        s = j * sw + q * dw - left
                        if r < 0 or r >= h or s < 0 or s >= w:
                            continue
                        _multiply_add(cell, x[a, r, s], taps[p, q], c_count, m_count)


def _depthwise_forward_planes(x, taps, sh, dh, dw, top, left, out, held):
    """``_depthwise_forward`` of stride 1 for an NCHW x (n, C, H, W): each image copied channels-last into held (n,
    H, W, C) and convolved from there while it is in cache (a copy of the chunk first, then the kernel over it, ran
    1.2-1.3× as long on one core: 64 × 32 × 26 × 26, 2.8 → 2.2-2.4 ms)."""
    n, c_count, h, w = x.shape
    for a in range(n):
        for r in range(h):
            for s in range(w):
                for c in range(c_count):
                    held[a, r, s, c] = x[a, c, r, s]
        _depthwise_rows(0, held[a:a + 1], out[a:a + 1], taps, sh, dh, dw, top, left, out[a:a + 1])


def _depthwise_planes(which, x, g, taps, dh, dw, top, left, out):
    """A depthwise convolution of stride 1 plane by plane, for NCHW x (n, C, H, W) and g (n, C·M, Ho, Wo) (any
    strides): image a's channel c zero-padded into a flat (Hp, Wp) plane, Hp = Ho + (kh − 1)·dh, Wp = Wo + (kw −
    1)·dw (``top`` rows above it, ``left`` columns before), output cell k = i·Wp + j of kernel offset (p, q) meets
    the plane's cell k + p·dh·Wp + q·dw: each offset one flat loop over (Ho − 1)·Wp + Wo cells (the Wp − Wo
    between two rows made and dropped, or zeros of g), no channels-last copy of x or g. ``which``:

    0. forward: out (n, C·M, Ho, Wo) = Σ_{p,q} taps[p, q, o]·x̃ (offsets added in row-major order); g = out;
    1. input transpose: out (n, C, H, W) = Σ_{m, p, q} taps·g scattered onto the padded plane, cut to H × W;
       x = out;
    2. weight gradient: out (1, kh, kw, C·M) float64 += Σ_cells g·x̃, per image and offset a dot product in the
       data's dtype (``_dot``); taps a placeholder of the data's dtype.
    """
    n, c_count, h, w = x.shape
    o_count, ho, wo = g.shape[1], g.shape[2], g.shape[3]
    kh, kw = (out.shape[1], out.shape[2]) if which == 2 else (taps.shape[0], taps.shape[1])
    m_count = o_count // c_count
    wp = wo + (kw - 1) * dw
    length = (ho - 1) * wp + wo
    zero = taps.dtype.type(0)
    plane = np.zeros((ho + (kh - 1) * dh) * wp, taps.dtype)  # (the padding's cells never written: zeros)
    grid = np.zeros(length, taps.dtype)  # the forward's sums, or g's plane (its cells between rows: zeros)
    for a in range(n):
        for c in range(c_count):
            if which == 1:
                plane[:] = zero
            else:
                for r in range(h):  # (views indexed by loop variables from 0: Numba's test for a negative index,
                    cells = plane[(top + r) * wp + left:(top + r) * wp + left + w]  # k + shift, kept LLVM from
                    for s in range(w):  # vectorising the loops)
                        cells[s] = x[a, c, r, s]
            for o in range(c * m_count, (c + 1) * m_count):
                if which == 0:
                    grid[:] = zero
                else:
                    for i in range(ho):
                        cells = grid[i * wp:i * wp + wo]
                        for j in range(wo):
                            cells[j] = g[a, o, i, j]
                for p in range(kh):
                    for q in range(kw):
                        window = plane[p * dh * wp + q * dw:p * dh * wp + q * dw + length]
                        if which == 0:
                            t = taps[p, q, o]
                            for k in range(length):
                                grid[k] += t * window[k]
                        elif which == 1:
                            t = taps[p, q, o]
                            for k in range(length):
                                window[k] += t * grid[k]
                        else:
                            out[0, p, q, o] += _dot(grid, window)
                if which == 0:
                    for i in range(ho):
                        cells = grid[i * wp:i * wp + wo]
                        for j in range(wo):
                            out[a, o, i, j] = cells[j]
            if which == 1:
                for r in range(h):
                    cells = plane[(top + r) * wp + left:(top + r) * wp + left + w]
                    for s in range(w):
                        out[a, c, r, s] = cells[s]


def _dot(u, v):
    """Σ_k u[k]·v[k] in the dtype of u and v, compiled with reassociation allowed (``_REASSOCIATED``): LLVM then
    keeps several running sums in vector registers, where one sum chains every addition to the last (282 → 21 ns
    for 622 float32 cells on this machine; eight sums written out by hand, 150). The order of the additions is
    then LLVM's, fixed for a given CPU and Numba, the same whatever the threads."""
    total = u.dtype.type(0)
    for k in range(len(u)):
        total += u[k] * v[k]
    return total


def _zero_image(out, a):
    """out[a] = 0 for out (n, h, w, c), cell by cell (an image a transpose adds its windows back into)."""
    zero = out.dtype.type(0)
    for r in range(out.shape[1]):
        for s in range(out.shape[2]):
            for c in range(out.shape[3]):
                out[a, r, s, c] = zero


def _depthwise_input(g, taps, sh, sw, dh, dw, top, left, out):
    """The transpose: out[a, r, s, c] = Σ_m Σ over the windows' cells (i·sh + p·dh − top, j·sw + q·dw − left) =
    (r, s) of g[a, i, j, c·M + m] · taps[p, q, c·M + m], the padding's skipped: each image zeroed, then every
    window's products added in (a gather of each input cell's sum took 1.7× as long, 0.63 against 0.37 ms); of
    stride 1, row by row (``_depthwise_rows``)."""
    n, ho, wo, o = g.shape
    h, w, c_count = out.shape[1:]
    kh, kw = taps.shape[:2]
    m_count = o // c_count
    zero = g.dtype.type(0)
    if sw == 1:
        for a in range(n):
            _zero_image(out, a)
        _depthwise_rows(1, out, g, taps, sh, dh, dw, top, left, out)
        return
    for a in range(n):
        _zero_image(out, a)
        for i in range(ho):
            for j in range(wo):
                for p in range(kh):
                    r = i * sh + p * dh - top
                    if r < 0 or r >= h:
                        continue
                    for q in range(kw):
                        s = j * sw + q * dw - left
                        if s < 0 or s >= w:
                            continue
                        if m_count == 1:
                            for c in range(c_count):
                                out[a, r, s, c] += g[a, i, j, c] * taps[p, q, c]
                        else:
                            for c in range(c_count):
                                v = zero
                                for m in range(c * m_count, (c + 1) * m_count):
                                    v += g[a, i, j, m] * taps[p, q, m]
                                out[a, r, s, c] += v


def _im2col(x, kw, sh, sw, dh, dw, top, left, out):
    """out[a, i, j, p·kw + q, c] = x[a, i·sh + p·dh − top, j·sw + q·dw − left, c], zero in the padding: each
    window's cells copied once, straight from x, where NumPy copies x into a padded buffer and then makes a strided
    copy per offset."""
    n, ho, wo, k_count, c_count = out.shape
    h, w = x.shape[1:3]
    kh = k_count // kw
    zero = out.dtype.type(0)
    for a in range(n):
        for i in range(ho):
            for j in range(wo):
                for p in range(kh):
                    r = i * sh + p * dh - top
                    for q in range(kw):
                        s = j * sw + q * dw - left
                        k = p * kw + q
                        if r < 0 or r >= h or s < 0 or s >= w:
                            for c in range(c_count):
                                out[a, i, j, k, c] = zero
                        else:
                            for c in range(c_count):
                                out[a, i, j, k, c] = x[a, r, s, c]


def _col2im(cols, kw, sh, sw, dh, dw, top, left, out):
    """im2col's transpose: out[a, r, s, c] = Σ of cols[a, i, j, p·kw + q, c] over the windows' cells (i·sh + p·dh
    − top, j·sw + q·dw − left) = (r, s), the padding's skipped: each image zeroed, then every window added in, the
    columns read once in order (a gather of each input cell's sum took 1.75-2.2× as long: 0.13 against 0.076 ms for
    a 5×5 kernel's image, 0.18 against 0.08 for 8 images of a 3×3 of stride 2)."""
    n, ho, wo, k_count, c_count = cols.shape
    h, w = out.shape[1:3]
    kh = k_count // kw
    for a in range(n):
        _zero_image(out, a)
        for i in range(ho):
            for j in range(wo):
                for p in range(kh):
                    r = i * sh + p * dh - top
                    if r < 0 or r >= h:
                        continue
                    for q in range(kw):
                        s = j * sw + q * dw - left
                        if s < 0 or s >= w:
                            continue
                        k = p * kw + q
                        for c in range(c_count):
                            out[a, r, s, c] += cols[a, i, j, k, c]


def _depthwise_weight(x, g, sh, sw, dh, dw, top, left, total):
    """total[p, q, c·M + m] += Σ_{a,i,j} g[a, i, j, c·M + m] · x[a, i·sh + p·dh − top, j·sw + q·dw − left, c] over
    the windows' cells inside the image, total float64: summed in the data's dtype along each output row, then in
    float64; of stride 1, row by row (``_depthwise_rows``), each column's sum in float64 image by image and the
    columns summed at the end."""
    n, ho, wo, o = g.shape
    h, w, c_count = x.shape[1:]
    kh, kw = total.shape[:2]
    m_count = o // c_count
    zero = g.dtype.type(0)
    if sw == 1:
        columns = np.zeros((kh, kw, wo * o))
        _depthwise_rows(2, x, g, total.astype(g.dtype), sh, dh, dw, top, left, columns)
        for j in range(wo):
            total += columns[:, :, j * o:(j + 1) * o]
        return
    part = np.empty(total.shape, g.dtype)
    for a in range(n):
        for i in range(ho):
            part[:] = zero
            for j in range(wo):
                grad = g[a, i, j]
                for p in range(kh):
                    r = i * sh + p * dh - top
                    for q in range(kw):
                        s = j * sw + q * dw - left
                        if r < 0 or r >= h or s < 0 or s >= w:
                            continue
                        _multiply_add(part[p, q], x[a, r, s], grad, c_count, m_count)
            total += part


# ----- the softmax family over short rows: x, e (N, C), C < 16, and m, total (N, 1) (``softmax_kernels``) -----


def _row_shift(x, m, e):
    """m[i] = max_c x[i, c] (NaN if one is NaN; 0 where that is ±inf or NaN) and e[i, c] = x[i, c] − m[i] in one
    pass, where NumPy's reduction starts its loop once per short row (``row_max``, then the subtraction)."""
    zero = x.dtype.type(0)
    for i in range(x.shape[0]):
        top = x[i, 0]
        for c in range(1, x.shape[1]):
            v = x[i, c]
            if v > top or v != v:  # (top stays NaN once it is: nothing compares greater)
                top = v
        if top - top != zero:  # ±inf or NaN
            top = zero
        m[i, 0] = top
        for c in range(x.shape[1]):
            e[i, c] = x[i, c] - top


def _row_sums(e, total, scale, scaled):
    """total[i] = Σ_c e[i, c] in NumPy's pairwise order (``softmax_kernels._pairwise_sum``), and with ``scaled``
    e[i, c] ← e[i, c]·(scale/total[i]), the softmax times scale, in the same pass."""
    classes = e.shape[1]
    for i in range(e.shape[0]):
        if classes < 8:
            s = e[i, 0]
            for c in range(1, classes):
                s += e[i, c]
        else:
            s = ((e[i, 0] + e[i, 1]) + (e[i, 2] + e[i, 3])) + ((e[i, 4] + e[i, 5]) + (e[i, 6] + e[i, 7]))
            for c in range(8, classes):
                s += e[i, c]
        total[i, 0] = s
        if scaled:
            factor = scale / s
            for c in range(classes):
                e[i, c] *= factor


# ----- cells rearranged: a dilated convolution's phases (``winograd._phased``) -----


def _gather_cells(src, rows, columns, out):
    """out[n, i, j, :] = src[n, rows[i], columns[j], :], zero where rows[i] or columns[j] is −1: at copy speed, where
    NumPy's strided copy pays its inner loop's setup per cell (64 × 26 × 26 × 32 float32 into a dilation's phases,
    one core: 0.38 ms, a plain copy's time, against 0.95)."""
    n, h, w, c = out.shape
    for a in range(n):
        for i in range(h):
            r = rows[i]
            for j in range(w):
                s = columns[j]
                if r < 0 or s < 0:
                    for k in range(c):
                        out[a, i, j, k] = 0
                else:
                    for k in range(c):  # (a loop: a slice's copy took 2× as long)
                        out[a, i, j, k] = src[a, r, s, k]


KERNELS = {"BT": _bt_rows, "B": _b_rows, "AT": _at_rows, "A": _a_rows,  # Winograd's 2-D passes, by their matrix
           "BT7": _bt7_rows, "B7": _b7_rows, "AT3": _at3_rows, "A3": _a3_rows,  # F(3×3, 5×5)'s
           "BT7_image": _bt7_image, "A3_image": _a3_image, "AT3_image": _at3_image, "B3_image": _b3_image,
           "BT_image": _bt_image, "A_image": _a_image, "A_pooled": _a_pooled, "AT_image": _at_image,
           "AT_image_pooled": _at_image_pooled,
           "B_image": _b_image, "slabs": _slabs,
           "sigmoid_select": _sigmoid_select, "select": _select, "huber": _huber,
           "bias_relu": _bias_relu, "relu_rule_sum": _relu_rule_sum, "window_sums": _window_sums,
           "pool_max": _pool_max, "pool_scatter": _pool_scatter,
           "depthwise_forward": _depthwise_forward, "depthwise_forward_planes": _depthwise_forward_planes,
           "depthwise_planes": _depthwise_planes,
           "depthwise_input": _depthwise_input,
           "depthwise_weight": _depthwise_weight, "gather_cells": _gather_cells, "im2col": _im2col,
           "col2im": _col2im, "row_shift": _row_shift, "row_sums": _row_sums}
# the matrices' rows, …: inlined where used
_INLINED = ("_bt", "_b", "_at", "_a", "_sevens", "_bt7", "_b7", "_at3", "_a3", "_tile", "_multiply_add",
            "_zero_image", "_depthwise_rows")
_CALLED = ("_bt_rows", "_b_rows", "_at_rows", "_a_rows", "_bt7_rows", "_a3_rows",
           "_at_image_row", "_b_image_row")  # compiled alone, called
_REASSOCIATED = ("_dot",)  # compiled alone, called, their additions reassociated (fastmath's "reassoc" alone)
_compiled: dict = {}  # name → its Numba dispatcher (compiled at its first call, per dtype and layout)
_lock = threading.Lock()  # (the pool's threads ask for a kernel at once on a process's first convolution)


def kernel(name: str):
    """The compiled ``KERNELS[name]``, else None (Numba not installed, or switched off). Safe to call from
    several threads at once."""
    dispatcher = _compiled.get(name)
    if dispatcher is not None:
        return dispatcher
    if name not in KERNELS:
        raise ValueError(f"kernel name must be one of {sorted(KERNELS)}, got {name!r}")
    numba = _numba()
    if numba is None:
        return None
    def compiled_alone(fn):
        return numba.njit(nogil=True, boundscheck=False, cache=True, error_model="numpy")(fn)
    with _lock:
        if not _compiled:  # the helpers as Numba functions (the kernels find them among this module's globals)
            for helper in _INLINED:
                globals()[helper] = numba.njit(inline="always")(globals()[helper])
            for helper in _CALLED:
                globals()[helper] = compiled_alone(globals()[helper])
            for helper in _REASSOCIATED:
                globals()[helper] = numba.njit(nogil=True, boundscheck=False, cache=True, error_model="numpy",
                                               fastmath={"reassoc"})(globals()[helper])
        if name not in _compiled:
            fn = KERNELS[name]  # (a called helper is also a kernel: the same dispatcher)
            _compiled[name] = globals()[fn.__name__] if fn.__name__ in _CALLED else compiled_alone(fn)
    return _compiled[name]


__all__ = ["available", "kernel", "KERNELS", "PASSES"]
