"""Parity with PyTorch 2.13 for the layers' ops and the rearranging ops of issue #16, values and gradients,
float32 and float64: pooling, layer/batch norm (and the running statistics after a step), embedding, attention,
softplus(beta, threshold), F.linear / F.conv2d / F.max_pool2d, pad in every mode, flip, roll, tile, repeat,
clamp, masked_fill. Stored by scripts/golden/layers.py in tests/golden/layers.npz; no torch here."""

import numpy as np
import pytest

import test_losses_golden as golden

CASES, ARRAYS = golden.load("layers.npz")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_matches_pytorch(case):
    arrays = dict(ARRAYS)
    for key in case["args"].values():  # batch_norm updates its running statistics in place: give it copies
        arrays[key] = arrays[key].copy()
    golden.check(case, arrays)
    if case["id"].endswith("batch_norm/" + case["id"].split("/")[1] + "/train"):
        dtype = case["id"].split("/")[1]
        tolerance = golden.TOLERANCE[dtype]
        for name in ("mean", "var"):
            expected = ARRAYS[f"batch_norm/{dtype}/running_after_step/{name}"]
            np.testing.assert_allclose(arrays[case["args"][f"running_{name}"]], expected, **tolerance)


def test_the_golden_file_covers_every_op_in_both_dtypes():
    ids = [c["id"] for c in CASES]
    for fn in ("avg_pool2d", "adaptive_avg_pool2d", "layer_norm", "batch_norm", "embedding", "sdpa", "softplus",
               "F.linear", "F.conv2d", "pad", "flip", "roll", "tile", "repeat_interleave", "clamp", "masked_fill"):
        for dtype in ("float32", "float64"):
            assert any(i.startswith(f"{fn}/{dtype}") for i in ids), (fn, dtype)
