"""Parity with PyTorch 2.13 for the layers' ops and the rearranging ops of issue #16, values and gradients,
float32 and float64: pooling (ceil_mode, max-pool's indices), layer/batch norm (and the running statistics after a
step), embedding, attention, softplus(beta, threshold), F.linear / F.conv2d / F.max_pool2d, pad in every mode,
flip, roll, tile, repeat, clamp, masked_fill. Stored by scripts/golden/layers.py in tests/golden/layers.npz; no torch here."""

import numpy as np
import pytest

import test_losses_golden as golden

CASES, ARRAYS = golden.load("layers.npz")
# Winograd F(4×4, 3×3) errs by about 50 float32 epsilons of the largest result, ~9× im2col (softgrad.ops.winograd's
# docstring): its bound there, 1e-5 of the largest entry, rather than the 2e-6 that im2col and PyTorch meet
WINOGRAD_TOLERANCE = dict(golden.TOLERANCE, float32=dict(rtol=2e-5, atol=1e-5))


def _runs_winograd(case, arrays) -> bool:
    """The 'winograd' cases, and grouped 3×3 stride-1 convolutions of few channels: those run as the dense
    convolution by a block-diagonal weight (nn_kernels._as_dense), so by Winograd too."""
    if "winograd" in case["id"]:
        return True
    kwargs = case["kwargs"]
    return (case["fn"] == "F.conv2d" and kwargs.get("groups", 1) > 1 and kwargs.get("stride", 1) == 1
            and kwargs.get("dilation", 1) == 1 and arrays[case["args"]["weight"]].shape[2:] == (3, 3))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_matches_pytorch(case):
    arrays = dict(ARRAYS)
    for key in case["args"].values():  # batch_norm updates its running statistics in place: give it copies
        arrays[key] = arrays[key].copy()
    if not case["diff"]:  # max-pool's indices: integers, exactly PyTorch's
        value = golden.function(case["fn"])(*[arrays[key] for key in case["args"].values()], **case["kwargs"])
        expected = arrays[case["value"]]
        assert value.dtype == expected.dtype and value.shape == expected.shape
        np.testing.assert_array_equal(value.numpy(), expected, err_msg=case["id"])
        return
    golden.check(case, arrays, WINOGRAD_TOLERANCE if _runs_winograd(case, arrays) else golden.TOLERANCE)
    if case["id"].endswith("batch_norm/" + case["id"].split("/")[1] + "/train"):
        dtype = case["id"].split("/")[1]
        tolerance = golden.TOLERANCE[dtype]
        for name in ("mean", "var"):
            expected = ARRAYS[f"batch_norm/{dtype}/running_after_step/{name}"]
            np.testing.assert_allclose(arrays[case["args"][f"running_{name}"]], expected, **tolerance)


def test_the_golden_file_covers_every_op_in_both_dtypes():
    ids = [c["id"] for c in CASES]
    for fn in ("avg_pool2d", "adaptive_avg_pool2d", "layer_norm", "batch_norm", "embedding", "sdpa", "softplus",
               "F.linear", "F.conv2d", "F.max_pool2d", "pad", "flip", "roll", "tile", "repeat_interleave", "clamp", "masked_fill"):
        for dtype in ("float32", "float64"):
            assert any(i.startswith(f"{fn}/{dtype}") for i in ids), (fn, dtype)
    for option in ("ceil-incTrue", "ceil-incFalse", "ceil-indices", "k2-indices", "d2", "d2-ceil-indices",
                   "nhwc-k3-s2-p1-d12-ceil", "nhwc-k3-s2-p1-ceil-incFalse"):
        for dtype in ("float32", "float64"):
            assert sum(i.endswith(option) and f"/{dtype}/" in i for i in ids) >= 1, (option, dtype)
