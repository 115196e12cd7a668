"""PyTorch reference values for the layers' ops and the rearranging ops of issue #16 (run by make_golden.py).

Writes tests/golden/layers.npz in the format of losses.npz (its ``Writer``): average and adaptive average
pooling, ceil_mode, max-pool's return_indices and dilation, the pooling cells' data_format='NHWC', layer and batch normalisation (and the running statistics one
training step leaves), embedding (with padding_idx), scaled dot-product attention (causal, bool and float
masks), softplus with beta and threshold, linear and conv2d with bias through ``softgrad.nn.functional`` (also
Winograd's 3×3 path, dilated, grouped and depthwise), pad in every mode, flip, roll, tile, repeat(_interleave),
clamp and masked_fill; values and gradients, float32 and float64.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from golden.losses import DTYPES, Writer

SEED = 20260316


def pooling_cases(w: Writer, dtype: str) -> None:
    import torch.nn.functional as F

    x = w.put(f"in/{dtype}/nchw", w.rng.standard_normal((2, 3, 7, 6)).astype(dtype))
    for kernel, stride, padding, include in ((2, None, 0, True), (3, 2, 1, True), (3, 2, 1, False), ((3, 2), 1, (1, 0),
                                                                                                   False)):
        kwargs = {"kernel_size": kernel, "stride": stride, "padding": padding, "count_include_pad": include}
        w.case(f"avg_pool2d/{dtype}/k{kernel}-s{stride}-p{padding}-inc{include}", "avg_pool2d", {"x": x}, kwargs,
               ["x"], F.avg_pool2d)
    w.case(f"avg_pool2d/{dtype}/divisor", "avg_pool2d", {"x": x}, {"kernel_size": 2, "divisor_override": 3},
           ["x"], F.avg_pool2d)
    for size in (1, (3, 4), (5, None), (7, 6)):
        w.case(f"adaptive_avg_pool2d/{dtype}/{size}", "adaptive_avg_pool2d", {"x": x}, {"output_size": size},
               ["x"], F.adaptive_avg_pool2d)


def pooling_option_cases(w: Writer, dtype: str) -> None:
    """ceil_mode (max and average, with and without count_include_pad) and return_indices, on the stored
    (2, 3, 7, 6) input: no new random draws, so every earlier array stays as it was."""
    import torch.nn.functional as F

    x = f"in/{dtype}/nchw"
    geometries = {"k2-s2": {"kernel_size": 2}, "k3-s2-p1": {"kernel_size": 3, "stride": 2, "padding": 1},
                  "k32-s23-p10": {"kernel_size": (3, 2), "stride": (2, 3), "padding": (1, 0)}}
    for name, geometry in geometries.items():
        options = dict(geometry, ceil_mode=True, return_indices=True)
        w.case(f"F.max_pool2d/{dtype}/{name}-ceil", "F.max_pool2d[0]", {"input": x}, options, ["input"],
               lambda x, **k: F.max_pool2d(x, **k)[0])
        w.case(f"F.max_pool2d/{dtype}/{name}-ceil-indices", "F.max_pool2d[1]", {"input": x}, options, [],
               lambda x, **k: F.max_pool2d(x, **k)[1])
        for include in (True, False):
            w.case(f"avg_pool2d/{dtype}/{name}-ceil-inc{include}", "avg_pool2d", {"x": x},
                   dict(geometry, ceil_mode=True, count_include_pad=include), ["x"], F.avg_pool2d)
    w.case(f"F.max_pool2d/{dtype}/k2-indices", "F.max_pool2d[1]", {"input": x},
           {"kernel_size": 2, "return_indices": True}, [], lambda x, **k: F.max_pool2d(x, **k)[1])
    w.case(f"avg_pool2d/{dtype}/k2-ceil-divisor", "avg_pool2d", {"x": x},
           {"kernel_size": 2, "ceil_mode": True, "divisor_override": 3}, ["x"], F.avg_pool2d)


def pooling_dilation_and_layout_cases(w: Writer, dtype: str) -> None:
    """max-pool's dilation (with padding, ceil_mode and return_indices), and nn.MaxPool2d / nn.AvgPool2d with
    data_format='NHWC' against PyTorch's NCHW pooling of the same images permuted; on the stored (2, 3, 7, 6)
    input and its channels-last copy (no random draws)."""
    import torch.nn.functional as F

    x = f"in/{dtype}/nchw"
    geometries = {"k2-d2": {"kernel_size": 2, "dilation": 2},
                  "k3-s2-p1-d2-ceil": {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True},
                  "k23-s1-p10-d21": {"kernel_size": (2, 3), "stride": 1, "padding": (1, 0), "dilation": (2, 1)}}
    for name, geometry in geometries.items():
        options = dict(geometry, return_indices=True)
        w.case(f"F.max_pool2d/{dtype}/{name}", "F.max_pool2d[0]", {"input": x}, options, ["input"],
               lambda x, **k: F.max_pool2d(x, **k)[0])
        w.case(f"F.max_pool2d/{dtype}/{name}-indices", "F.max_pool2d[1]", {"input": x}, options, [],
               lambda x, **k: F.max_pool2d(x, **k)[1])
    nhwc = w.put(f"in/{dtype}/nhwc", np.ascontiguousarray(w.arrays[x].transpose(0, 2, 3, 1)))

    def channels_last(pool):
        return lambda x, **k: pool(x.permute(0, 3, 1, 2), **k).permute(0, 2, 3, 1)

    maximum = {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": (1, 2), "ceil_mode": True}
    w.case(f"nn.MaxPool2d/{dtype}/nhwc-k3-s2-p1-d12-ceil", "nn.MaxPool2d", {"x": nhwc},
           dict(maximum, pad_mode="pad", data_format="NHWC"), ["x"], channels_last(F.max_pool2d), maximum)
    average = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}
    w.case(f"nn.AvgPool2d/{dtype}/nhwc-k3-s2-p1-ceil-incFalse", "nn.AvgPool2d", {"x": nhwc},
           dict(average, pad_mode="pad", data_format="NHWC"), ["x"], channels_last(F.avg_pool2d), average)


def normalization_cases(w: Writer, dtype: str) -> None:
    import torch
    import torch.nn.functional as F

    rng = w.rng
    x = w.put(f"in/{dtype}/ln_x", (2 * rng.standard_normal((3, 4, 5)) + 1).astype(dtype))
    weight = w.put(f"in/{dtype}/ln_w", rng.uniform(0.5, 1.5, (4, 5)).astype(dtype))
    bias = w.put(f"in/{dtype}/ln_b", rng.standard_normal((4, 5)).astype(dtype))
    trailing = w.put(f"in/{dtype}/ln_shape", np.array([4, 5]))  # (a positional argument before weight and bias)
    w.case(f"layer_norm/{dtype}/affine", "layer_norm", {"x": x, "normalized_shape": trailing, "weight": weight,
                                                         "bias": bias},
           {"eps": 1e-5}, ["x", "weight", "bias"], lambda x, shape, wt, b, eps: F.layer_norm(x, (4, 5), wt, b, eps))
    w.case(f"layer_norm/{dtype}/last_axis", "layer_norm", {"x": x}, {"normalized_shape": [5], "eps": 1e-3}, ["x"],
           lambda x, **k: F.layer_norm(x, k["normalized_shape"], eps=k["eps"]))
    xb = w.put(f"in/{dtype}/bn_x", (3 * rng.standard_normal((4, 3, 5, 2)) - 1).astype(dtype))
    gamma = w.put(f"in/{dtype}/bn_w", rng.uniform(0.5, 1.5, 3).astype(dtype))
    beta = w.put(f"in/{dtype}/bn_b", rng.standard_normal(3).astype(dtype))
    mean = w.put(f"in/{dtype}/bn_mean", rng.standard_normal(3).astype(dtype))
    var = w.put(f"in/{dtype}/bn_var", rng.uniform(0.5, 2.0, 3).astype(dtype))
    train_mean = w.put(f"in/{dtype}/bn_mean_train", w.arrays[mean].copy())  # updated in place by the replay
    train_var = w.put(f"in/{dtype}/bn_var_train", w.arrays[var].copy())
    w.case(f"batch_norm/{dtype}/train", "batch_norm", {"x": xb, "running_mean": train_mean, "running_var": train_var,
                                                        "weight": gamma, "bias": beta},
           {"training": True, "momentum": 0.3, "eps": 1e-5}, ["x", "weight", "bias"], F.batch_norm)
    w.case(f"batch_norm/{dtype}/eval", "batch_norm", {"x": xb, "running_mean": mean, "running_var": var,
                                                       "weight": gamma, "bias": beta},
           {"training": False, "eps": 1e-3}, ["x", "weight", "bias"], F.batch_norm)
    running_mean, running_var = torch.tensor(w.arrays[train_mean]), torch.tensor(w.arrays[train_var])
    F.batch_norm(torch.tensor(w.arrays[xb]), running_mean, running_var, training=True, momentum=0.3)
    w.put(f"batch_norm/{dtype}/running_after_step/mean", running_mean.numpy())
    w.put(f"batch_norm/{dtype}/running_after_step/var", running_var.numpy())


def lookup_and_attention_cases(w: Writer, dtype: str) -> None:
    import torch.nn.functional as F

    rng = w.rng
    table = w.put(f"in/{dtype}/table", rng.standard_normal((6, 3)).astype(dtype))
    indices = w.put(f"in/{dtype}/indices", np.array([[1, 0, 5, 1], [2, 2, 0, 4]]))
    w.case(f"embedding/{dtype}/plain", "embedding", {"input": indices, "weight": table}, {}, ["weight"], F.embedding)
    w.case(f"embedding/{dtype}/padding_idx", "embedding", {"input": indices, "weight": table}, {"padding_idx": 2},
           ["weight"], F.embedding)
    q = w.put(f"in/{dtype}/q", rng.standard_normal((2, 3, 4, 5)).astype(dtype))
    k = w.put(f"in/{dtype}/k", rng.standard_normal((2, 3, 6, 5)).astype(dtype))
    v = w.put(f"in/{dtype}/v", rng.standard_normal((2, 3, 6, 2)).astype(dtype))
    kq = w.put(f"in/{dtype}/kq", rng.standard_normal((2, 3, 4, 5)).astype(dtype))
    vq = w.put(f"in/{dtype}/vq", rng.standard_normal((2, 3, 4, 2)).astype(dtype))
    bool_mask = w.put(f"in/{dtype}/bool_mask", rng.uniform(size=(4, 6)) > 0.3)
    bool_mask_arr = w.arrays[bool_mask]
    bool_mask_arr[:, 0] = True  # every query attends somewhere
    float_mask = w.put(f"in/{dtype}/float_mask", rng.standard_normal((4, 6)).astype(dtype))
    qkv = {"query": q, "key": k, "value": v}
    diff = ["query", "key", "value"]
    sdpa = F.scaled_dot_product_attention
    w.case(f"sdpa/{dtype}/plain", "scaled_dot_product_attention", qkv, {}, diff, sdpa)
    w.case(f"sdpa/{dtype}/scale", "scaled_dot_product_attention", qkv, {"scale": 0.3}, diff, sdpa)
    w.case(f"sdpa/{dtype}/bool_mask", "scaled_dot_product_attention", qkv, {"attn_mask": "@" + bool_mask}, diff, sdpa)
    w.case(f"sdpa/{dtype}/float_mask", "scaled_dot_product_attention", qkv, {"attn_mask": "@" + float_mask}, diff,
           sdpa)
    w.case(f"sdpa/{dtype}/causal", "scaled_dot_product_attention", {"query": q, "key": kq, "value": vq},
           {"is_causal": True}, diff, sdpa)


def functional_cases(w: Writer, dtype: str) -> None:
    import torch.nn.functional as F

    rng = w.rng
    x = w.put(f"in/{dtype}/softplus_x", np.array([[-30.0, -2.0, 0.0, 0.3], [2.0, 9.0, 11.0, 40.0]], dtype))
    for beta, threshold in ((1.0, 20.0), (2.0, 20.0), (0.5, 3.0)):
        w.case(f"softplus/{dtype}/beta{beta}-threshold{threshold}", "softplus", {"x": x},
               {"beta": beta, "threshold": threshold}, ["x"], F.softplus)
    a = w.put(f"in/{dtype}/linear_x", rng.standard_normal((2, 3, 4)).astype(dtype))
    weight = w.put(f"in/{dtype}/linear_w", rng.standard_normal((5, 4)).astype(dtype))
    bias = w.put(f"in/{dtype}/linear_b", rng.standard_normal(5).astype(dtype))
    w.case(f"F.linear/{dtype}/3d", "F.linear", {"input": a, "weight": weight, "bias": bias}, {},
           ["input", "weight", "bias"], F.linear)
    img = w.put(f"in/{dtype}/conv_x", rng.standard_normal((2, 2, 6, 5)).astype(dtype))
    kernel = w.put(f"in/{dtype}/conv_w", rng.standard_normal((3, 2, 3, 3)).astype(dtype))
    kbias = w.put(f"in/{dtype}/conv_b", rng.standard_normal(3).astype(dtype))
    for stride, padding in ((1, 0), (2, 1), (1, "same")):
        w.case(f"F.conv2d/{dtype}/s{stride}-p{padding}", "F.conv2d", {"input": img, "weight": kernel, "bias": kbias},
               {"stride": stride, "padding": padding}, ["input", "weight", "bias"], F.conv2d)
    w.case(f"F.max_pool2d/{dtype}/k2", "F.max_pool2d", {"input": img}, {"kernel_size": 2}, ["input"], F.max_pool2d)


def rearranging_cases(w: Writer, dtype: str) -> None:
    import torch
    import torch.nn.functional as F

    rng = w.rng
    x = w.put(f"in/{dtype}/r_x", rng.standard_normal((2, 3, 4)).astype(dtype))
    for mode, padding in itertools.product(("constant", "reflect", "replicate", "circular"),
                                           ((1, 2), (2, 1, 1, 2), (-1, 2))):
        w.case(f"pad/{dtype}/{mode}/{padding}", "pad", {"x": x}, {"padding": list(padding), "mode": mode}, ["x"],
               F.pad, {"pad": padding, "mode": mode})
    w.case(f"pad/{dtype}/constant-value", "pad", {"x": x}, {"padding": [1, 1, 2, 0], "value": 2.5}, ["x"], F.pad,
           {"pad": (1, 1, 2, 0), "value": 2.5})
    w.case(f"flip/{dtype}", "flip", {"x": x}, {"dims": [0, 2]}, ["x"], torch.flip)
    w.case(f"roll/{dtype}/dims", "roll", {"x": x}, {"shifts": [1, -2], "dims": [1, 2]}, ["x"], torch.roll)
    w.case(f"roll/{dtype}/flat", "roll", {"x": x}, {"shifts": 5}, ["x"], torch.roll)
    w.case(f"tile/{dtype}", "tile", {"x": x}, {"dims": [2, 1, 3]}, ["x"], torch.tile)
    w.case(f"tile/{dtype}/more_dims", "tile", {"x": x}, {"dims": [2, 1, 1, 2]}, ["x"], torch.tile)
    w.case(f"repeat_interleave/{dtype}/int", "repeat_interleave", {"input": x}, {"repeats": 2, "dim": 1},
           ["input"], torch.repeat_interleave)
    counts = w.put(f"in/{dtype}/r_counts", np.array([0, 2, 1, 3]))
    w.case(f"repeat_interleave/{dtype}/counts", "repeat_interleave", {"input": x}, {"repeats": "@" + counts,
                                                                                   "dim": 2},
           ["input"], torch.repeat_interleave)
    w.case(f"clamp/{dtype}", "clamp", {"input": x}, {"min": -0.5, "max": 0.7}, ["input"], torch.clamp)
    mask = w.put(f"in/{dtype}/r_mask", rng.uniform(size=(3, 4)) > 0.5)
    w.case(f"masked_fill/{dtype}", "masked_fill", {"x": x, "mask": mask}, {"value": -1.5}, ["x"],
           lambda x, m, value: x.masked_fill(m, value))


def convolution_cases(w: Writer, dtype: str) -> None:
    """conv2d on the Winograd path (3×3, stride 1, 4 channels), dilated, grouped and depthwise (issue #15)."""
    import torch.nn.functional as F

    rng = w.rng
    img = w.put(f"in/{dtype}/conv4_x", rng.standard_normal((2, 4, 7, 6)).astype(dtype))
    kernel = w.put(f"in/{dtype}/conv4_w", rng.standard_normal((5, 4, 3, 3)).astype(dtype))
    grouped = w.put(f"in/{dtype}/conv4_wg", rng.standard_normal((6, 2, 3, 2)).astype(dtype))
    depthwise = w.put(f"in/{dtype}/conv4_wd", rng.standard_normal((8, 1, 3, 3)).astype(dtype))
    bias = w.put(f"in/{dtype}/conv4_b", rng.standard_normal(5).astype(dtype))
    for name, weight, kwargs in (
            ("winograd-p1", kernel, {"padding": 1}), ("winograd-valid", kernel, {}),
            ("dilation2-same", kernel, {"padding": "same", "dilation": 2}),
            ("dilation21-s2", kernel, {"stride": 2, "padding": 1, "dilation": (2, 1)}),
            ("groups2", grouped, {"padding": (1, 0), "groups": 2}),
            ("depthwise-x2", depthwise, {"padding": 1, "groups": 4}),
            ("depthwise-dilated-s2", depthwise, {"stride": 2, "padding": 2, "dilation": 2, "groups": 4})):
        args = {"input": img, "weight": weight}
        if weight == kernel:
            args["bias"] = bias
        w.case(f"F.conv2d/{dtype}/{name}", "F.conv2d", args, kwargs, list(args), F.conv2d)


def generate(out_dir: Path) -> list[Path]:
    import torch

    torch.manual_seed(SEED)
    w = Writer(np.random.default_rng(SEED))
    for dtype in DTYPES:
        pooling_cases(w, dtype)
        normalization_cases(w, dtype)
        lookup_and_attention_cases(w, dtype)
        functional_cases(w, dtype)
        rearranging_cases(w, dtype)
    for dtype in DTYPES:  # after the draws above, which they leave as they were
        pooling_option_cases(w, dtype)
    for dtype in DTYPES:  # (after those too)
        convolution_cases(w, dtype)
    for dtype in DTYPES:  # (and those)
        pooling_dilation_and_layout_cases(w, dtype)
    return [w.save(out_dir / "layers.npz")]
