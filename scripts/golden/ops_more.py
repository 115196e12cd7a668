"""PyTorch reference values for the scans, triangles and diagonals of issue #16 (run by make_golden.py).

Writes tests/golden/ops_more.npz in the format of losses.npz (its ``Writer``): cumsum and cumprod along every
axis (cumprod also with zeros in a lane: one, two, and at the start), tril and triu at several diagonals and on
a batch of matrices, diag of a vector and of a matrix at several offsets, trace, inv, solve (matrix and vector right-hand sides, batches), det,
slogdet's log|det|, scatter_add and index_add (repeated indices), einsum (matrix products, batches, broadcasting '...', size-1
broadcasting, implicit output, three operands: fn 'einsum' with kwargs {'equation'}), norm (vector and matrix orders but 0, which has no gradient in PyTorch; keepdim; a zero row), sort and topk (values with
their gradients, and the indices: '<case>/indices'), cholesky (lower and upper, batches), qr (square, tall,
wide, batched; 'complete' and 'r' values only), svd through quantities its sign choices do not change (LAPACK's
choices differ between PyTorch and NumPy for non-square matrices), svdvals, the norms of order ±2 and 'nuc',
matrix_norm, and einsum with repeated subscripts (drawn after the others, so their inputs are unchanged);
float32 and float64. Sorted inputs have no ties (PyTorch's
order of ties is stable only with ``stable=True``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from golden.losses import DTYPES, Writer

SEED = 20261201


def scan_cases(w: Writer, dtype: str) -> None:
    import torch

    x = w.put(f"in/{dtype}/s_x", w.rng.standard_normal((2, 3, 4)).astype(dtype))
    zeros = np.array([[2.0, 0.0, 3.0, -1.5, 0.5], [0.0, 1.5, -2.0, 0.7, 1.1], [1.2, 0.0, 0.0, 2.0, -0.5],
                      [1.1, -0.9, 1.3, 0.8, 1.2]], dtype=dtype)
    z = w.put(f"in/{dtype}/s_zeros", zeros)
    for axis in (0, 1, 2, -1):
        w.case(f"cumsum/{dtype}/axis{axis}", "cumsum", {"x": x}, {"axis": axis}, ["x"], torch.cumsum, {"dim": axis})
        w.case(f"cumprod/{dtype}/axis{axis}", "cumprod", {"x": x}, {"axis": axis}, ["x"], torch.cumprod,
               {"dim": axis})
    for axis in (0, 1):
        w.case(f"cumprod/{dtype}/zeros/axis{axis}", "cumprod", {"x": z}, {"axis": axis}, ["x"], torch.cumprod,
               {"dim": axis})


def triangle_cases(w: Writer, dtype: str) -> None:
    import torch

    m = w.put(f"in/{dtype}/t_m", w.rng.standard_normal((3, 4)).astype(dtype))
    batch = w.put(f"in/{dtype}/t_batch", w.rng.standard_normal((2, 4, 3)).astype(dtype))
    v = w.put(f"in/{dtype}/t_v", w.rng.standard_normal(3).astype(dtype))
    for k in (-4, -1, 0, 2, 5):
        w.case(f"tril/{dtype}/k{k}", "tril", {"x": m}, {"diagonal": k}, ["x"], torch.tril)
        w.case(f"triu/{dtype}/k{k}", "triu", {"x": m}, {"diagonal": k}, ["x"], torch.triu)
        w.case(f"diag/{dtype}/matrix/k{k}", "diag", {"x": m}, {"diagonal": k}, ["x"], torch.diag)
        w.case(f"diag/{dtype}/vector/k{k}", "diag", {"x": v}, {"diagonal": k}, ["x"], torch.diag)
    w.case(f"tril/{dtype}/batch", "tril", {"x": batch}, {"diagonal": -1}, ["x"], torch.tril)
    w.case(f"triu/{dtype}/batch", "triu", {"x": batch}, {"diagonal": 1}, ["x"], torch.triu)
    w.case(f"trace/{dtype}", "trace", {"x": m}, {}, ["x"], torch.trace)


def ordering_cases(w: Writer, dtype: str) -> None:
    import torch

    x = w.put(f"in/{dtype}/o_x", w.rng.standard_normal((3, 5)).astype(dtype))

    def indexed(case_id, fn, kwargs, torch_fn, torch_kwargs):
        w.case(case_id, f"{fn}[0]", {"x": x}, kwargs, ["x"], lambda t, **kw: torch_fn(t, **kw)[0], torch_kwargs)
        w.put(f"{case_id}/indices", torch_fn(torch.tensor(w.arrays[x]), **torch_kwargs)[1].numpy())

    for axis, descending in ((-1, False), (0, True), (1, True)):
        indexed(f"sort/{dtype}/axis{axis}/descending{descending}", "sort", {"axis": axis, "descending": descending},
                torch.sort, {"dim": axis, "descending": descending, "stable": True})
    for k, dim, largest in ((2, None, True), (3, 0, False), (5, 1, True), (0, 1, True)):
        indexed(f"topk/{dtype}/k{k}/dim{dim}/largest{largest}", "topk", {"k": k, "dim": dim, "largest": largest},
                torch.topk, {"k": k, "dim": -1 if dim is None else dim, "largest": largest})


def norm_cases(w: Writer, dtype: str) -> None:
    import torch

    x = w.put(f"in/{dtype}/n_x", w.rng.standard_normal((3, 4)).astype(dtype))
    zero_row = w.arrays[x].copy()
    zero_row[1] = 0
    z = w.put(f"in/{dtype}/n_zero_row", zero_row)
    cube = w.put(f"in/{dtype}/n_cube", w.rng.standard_normal((2, 3, 4)).astype(dtype))
    cases = [("flat", cube, None, None, False), ("vector2", x, None, 1, False), ("vector1", x, 1, 0, True),
             ("vector3", x, 3, 1, False), ("vector1.5", x, 1.5, -1, False), ("vector-inf", x, -np.inf, 1, False),
             ("vector_inf", x, np.inf, 0, False), ("zero_row", z, None, 1, False),
             ("fro", cube, "fro", (1, 2), False), ("matrix1", x, 1, None, False), ("matrix-1", x, -1, (0, 1), True),
             ("matrix_inf", cube, np.inf, (2, 0), False), ("matrix-inf", x, -np.inf, (0, 1), False)]
    for name, arg, ord, dim, keepdim in cases:
        kwargs = {"ord": ord, "dim": dim, "keepdim": keepdim}
        w.case(f"norm/{dtype}/{name}", "norm", {"A": arg}, kwargs, ["A"], torch.linalg.norm)


def einsum_cases(w: Writer, dtype: str) -> None:
    import torch

    shapes = {"a": (2, 3), "b": (3, 4), "c": (4, 2), "row": (1, 3), "batch": (5, 2, 3), "v": (3,)}
    keys = {name: w.put(f"in/{dtype}/e_{name}", w.rng.standard_normal(shape).astype(dtype))
            for name, shape in shapes.items()}
    cases = [("ij,jk->ik", "a", "b"), ("ij,jk", "a", "b"), ("ij,ij->", "row", "a"), ("...j,j->...", "batch", "v"),
             ("bij,jk->bki", "batch", "b"), ("ij->", "a"), ("ji", "a"), ("i,i", "v", "v"),
             ("...ij,jk->...ik", "batch", "b"), ("ij,jk,kl->il", "a", "b", "c"), ("ij,k->ijk", "a", "v")]
    for equation, *names in cases:
        args = {f"x{i}": keys[name] for i, name in enumerate(names)}
        w.case(f"einsum/{dtype}/{equation}", "einsum", args, {"equation": equation}, list(args),
               lambda *xs, equation: torch.einsum(equation, *xs))


def scatter_cases(w: Writer, dtype: str) -> None:
    import torch

    x = w.put(f"in/{dtype}/sc_x", w.rng.standard_normal((3, 4)).astype(dtype))
    rows = w.put(f"in/{dtype}/sc_rows", np.array([[0, 1, 2, 0], [2, 2, 1, 1]]))
    cols = w.put(f"in/{dtype}/sc_cols", np.array([[3, 3], [0, 1], [2, 2]]))
    for dim, index in ((0, rows), (1, cols)):  # src of index's shape: PyTorch's backward fails for a larger src
        src = w.put(f"in/{dtype}/sc_src{dim}", w.rng.standard_normal(w.arrays[index].shape).astype(dtype))
        w.case(f"scatter_add/{dtype}/dim{dim}", "scatter_add", {"input": x, "src": src},
               {"dim": dim, "index": "@" + index}, ["input", "src"],
               lambda input, src, dim, index: torch.scatter_add(input, dim, index, src))
    y = w.put(f"in/{dtype}/sc_y", w.rng.standard_normal((3, 3)).astype(dtype))
    picks = w.put(f"in/{dtype}/sc_picks", np.array([1, 3, 1]))
    w.case(f"index_add/{dtype}/axis1", "index_add", {"x": x, "y": y}, {"indices": "@" + picks, "axis": 1},
           ["x", "y"], lambda x, y, indices, axis: torch.index_add(x, axis, indices, y))


def linalg_cases(w: Writer, dtype: str) -> None:
    import torch

    eye = np.eye(3)
    A = w.put(f"in/{dtype}/la_A", (w.rng.standard_normal((3, 3)) + 3 * eye).astype(dtype))
    batch = w.put(f"in/{dtype}/la_batch", (w.rng.standard_normal((2, 3, 3)) - 3 * eye).astype(dtype))
    B = w.put(f"in/{dtype}/la_B", w.rng.standard_normal((3, 2)).astype(dtype))
    b = w.put(f"in/{dtype}/la_b", w.rng.standard_normal(3).astype(dtype))
    batch_B = w.put(f"in/{dtype}/la_batch_B", w.rng.standard_normal((2, 3, 4)).astype(dtype))
    for name, arg in (("matrix", A), ("batch", batch)):
        w.case(f"inv/{dtype}/{name}", "inv", {"A": arg}, {}, ["A"], torch.linalg.inv)
        w.case(f"det/{dtype}/{name}", "det", {"A": arg}, {}, ["A"], torch.linalg.det)
        w.case(f"slogdet/{dtype}/{name}", "slogdet[1]", {"A": arg}, {}, ["A"],
               lambda A: torch.linalg.slogdet(A)[1])
    for name, a, rhs in (("matrix", A, B), ("vector", A, b), ("batch", batch, batch_B)):
        w.case(f"solve/{dtype}/{name}", "solve", {"A": a, "B": rhs}, {}, ["A", "B"], torch.linalg.solve)


# functions of the SVD that its sign choices do not change (tests/test_losses_golden.py's SIGN_FREE)
SIGN_FREE_SVD = {"linalg.svd|U*U": lambda U, S, Vh: U * U, "linalg.svd|Vh*Vh": lambda U, S, Vh: Vh * Vh,
                 "linalg.svd|U S^3 Vh": lambda U, S, Vh: (U * S[..., None, :] ** 3) @ Vh}


def factorization_cases(w: Writer, dtype: str) -> None:
    import torch

    X = w.rng.standard_normal((3, 3))
    spd = w.put(f"in/{dtype}/f_spd", (X @ X.T + np.eye(3)).astype(dtype))
    Xs = w.rng.standard_normal((2, 3, 3))
    spd_batch = w.put(f"in/{dtype}/f_spd_batch", (Xs @ Xs.transpose(0, 2, 1) + np.eye(3)).astype(dtype))
    for name, arg in (("matrix", spd), ("batch", spd_batch)):
        for upper in (False, True):
            w.case(f"cholesky/{dtype}/{name}/upper{upper}", "cholesky", {"A": arg}, {"upper": upper}, ["A"],
                   torch.linalg.cholesky)
    shapes = {"square": (3, 3), "tall": (4, 3), "wide": (3, 5), "batch": (2, 4, 2)}
    inputs = {name: w.put(f"in/{dtype}/f_{name}", w.rng.standard_normal(shape).astype(dtype))
              for name, shape in shapes.items()}
    for name, arg in inputs.items():
        for i in (0, 1):
            w.case(f"qr/{dtype}/{name}/{'QR'[i]}", f"qr[{i}]", {"A": arg}, {"mode": "reduced"}, ["A"],
                   lambda A, mode, i=i: torch.linalg.qr(A, mode=mode)[i])
        for fn, of_svd in SIGN_FREE_SVD.items():
            w.case(f"linalg.svd/{dtype}/{name}/{fn}", fn, {"A": arg}, {"full_matrices": False}, ["A"],
                   lambda A, full_matrices, of_svd=of_svd: of_svd(*torch.linalg.svd(A, full_matrices=full_matrices)))
        w.case(f"linalg.svdvals/{dtype}/{name}", "linalg.svdvals", {"A": arg}, {}, ["A"], torch.linalg.svdvals)
        w.case(f"linalg.svd/{dtype}/{name}/S", "linalg.svd[1]", {"A": arg}, {"full_matrices": True}, ["A"],
               lambda A, full_matrices: torch.linalg.svd(A, full_matrices=full_matrices)[1])
    for i in (0, 1):  # values only: PyTorch does not differentiate these
        w.case(f"qr/{dtype}/tall/complete/{'QR'[i]}", f"qr[{i}]", {"A": inputs["tall"]}, {"mode": "complete"}, [],
               lambda A, mode, i=i: torch.linalg.qr(A, mode=mode)[i])
    w.case(f"qr/{dtype}/tall/r/R", "qr[1]", {"A": inputs["tall"]}, {"mode": "r"}, [],
           lambda A, mode: torch.linalg.qr(A, mode=mode)[1])
    cube = w.put(f"in/{dtype}/f_cube", w.rng.standard_normal((2, 3, 4)).astype(dtype))
    for ord in (2, -2, "nuc"):
        for name, arg, dim, keepdim in (("matrix", inputs["tall"], None, False), ("cube", cube, (2, 1), True),
                                        ("cube02", cube, (0, 2), False)):
            w.case(f"norm/{dtype}/matrix{ord}/{name}", "norm", {"A": arg}, {"ord": ord, "dim": dim, "keepdim": keepdim},
                   ["A"], torch.linalg.norm)
        w.case(f"linalg.matrix_norm/{dtype}/{ord}", "linalg.matrix_norm", {"A": cube}, {"ord": ord}, ["A"],
               torch.linalg.matrix_norm)


def diagonal_einsum_cases(w: Writer, dtype: str) -> None:
    import torch

    shapes = {"square": (3, 3), "cube": (2, 2, 3), "m": (3, 2), "mixed": (3, 2, 3), "small": (2, 2)}
    keys = {name: w.put(f"in/{dtype}/ed_{name}", w.rng.standard_normal(shape).astype(dtype))
            for name, shape in shapes.items()}
    for equation, *names in (("ii->i", "square"), ("ii", "square"), ("iij->j", "cube"), ("iij->ij", "cube"),
                             ("iji->j", "mixed"), ("ii,ij->j", "square", "m"), ("ij,jj->ij", "m", "small")):
        args = {f"x{i}": keys[name] for i, name in enumerate(names)}
        w.case(f"einsum/{dtype}/{equation}", "einsum", args, {"equation": equation}, list(args),
               lambda *xs, equation: torch.einsum(equation, *xs))


def generate(out_dir: Path) -> list[Path]:
    w = Writer(np.random.default_rng(SEED))
    for dtype in DTYPES:
        scan_cases(w, dtype)
        triangle_cases(w, dtype)
        ordering_cases(w, dtype)
        norm_cases(w, dtype)
        einsum_cases(w, dtype)
        scatter_cases(w, dtype)
        linalg_cases(w, dtype)
    for dtype in DTYPES:  # (after the others, so that their inputs stay as they were)
        factorization_cases(w, dtype)
        diagonal_einsum_cases(w, dtype)
    return [w.save(out_dir / "ops_more.npz")]
