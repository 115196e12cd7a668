"""PyTorch reference values for the loss family and the activations (run by scripts/make_golden.py).

Writes two files into tests/golden/:

* ``losses.npz``: every loss × option combination (weights, ignore_index — including batches where every
  target is ignored —, label smoothing with and without weights and ignore_index, pos_weight, every
  reduction, probability targets, extra spatial dims, empty batches, extreme logits), float32 and float64;
* ``losses_activations.npz``: the softmax family and the pointwise activations on ordinary and extreme inputs.

Each file is a JSON manifest plus one flat buffer per dtype (small: no per-array overhead). The manifest has
``arrays`` (key → [dtype, offset, shape]: inputs, PyTorch's values and gradients) and ``cases``: per case its
id, the softgrad function name, the argument array keys, keyword arguments (strings starting with '@' name
arrays), which arguments are differentiated, and the output keys. The cotangent of a case is ``seed(shape)``
below, so it need not be stored. The tests replay the cases with softgrad; they never import torch.
"""

from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path

import numpy as np

SEED = 20260301
DTYPES = ("float32", "float64")


def seed(shape) -> np.ndarray:
    """The cotangent every case uses for its output: 1 + ½·sin(1 + k) over the flattened entries (float64)."""
    return (1 + 0.5 * np.sin(1.0 + np.arange(int(np.prod(shape))))).reshape(shape)


class Writer:
    """Collects arrays and cases; inputs shared by several cases are stored once."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.arrays: dict[str, np.ndarray] = {}
        self.cases: list[dict] = []

    def put(self, key: str, array) -> str:
        assert key not in self.arrays, f"golden key {key} written twice"
        self.arrays[key] = np.asarray(array)
        return key

    def case(self, case_id: str, fn: str, args: dict[str, str], kwargs: dict, diff: list[str], torch_fn,
             torch_kwargs: dict | None = None):
        """Run ``torch_fn`` on the stored arrays and record its value and the gradients of ``diff``
        (``torch_kwargs`` defaults to softgrad's ``kwargs``, with '@key' resolved to a tensor)."""
        import torch

        tensors = {name: torch.tensor(self.arrays[key], requires_grad=name in diff) for name, key in args.items()}
        torch_kwargs = {k: torch.tensor(self.arrays[v[1:]]) if isinstance(v, str) and v.startswith("@") else v
                        for k, v in (kwargs if torch_kwargs is None else torch_kwargs).items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # kl_div's 'mean' warning
            out = torch_fn(*tensors.values(), **torch_kwargs)
        value = out.detach().numpy()
        record = {"id": case_id, "fn": fn, "args": args, "kwargs": kwargs, "diff": diff,
                  "value": self.put(f"{case_id}/value", value)}
        if diff:
            out.backward(torch.tensor(seed(value.shape).astype(value.dtype)))
            record["grads"] = {name: self.put(f"{case_id}/grad_{name}", tensors[name].grad.numpy())
                               for name in diff}
        self.cases.append(record)

    def save(self, path: Path) -> Path:
        index, buffers = {}, {}
        for key, array in self.arrays.items():
            chunks = buffers.setdefault(array.dtype.name, [])
            index[key] = [array.dtype.name, sum(c.size for c in chunks), list(array.shape)]
            chunks.append(array.reshape(-1))
        manifest = json.dumps({"arrays": index, "cases": self.cases}, separators=(",", ":"))
        np.savez_compressed(path, manifest=np.array(manifest),
                            **{name: np.concatenate(chunks) for name, chunks in buffers.items()})
        return path


# ----- inputs -----

CLASS_SHAPES = {"1d": (4,), "2d": (5, 4), "spatial": (3, 4, 2, 2)}  # class axis 0, 1, 1


def index_shape(shape):
    return shape[:1] + shape[2:] if len(shape) > 1 else ()


def probabilities(rng, shape):
    axis = 1 if len(shape) > 1 else 0
    p = rng.uniform(0.05, 1.0, shape)
    return p / p.sum(axis=axis, keepdims=True)


# ----- cross_entropy and nll_loss -----


def class_cases(w: Writer) -> None:
    import torch.nn.functional as F

    rng = w.rng
    for dtype, (shape_name, shape) in itertools.product(DTYPES, CLASS_SHAPES.items()):
        classes = shape[1] if len(shape) > 1 else shape[0]
        base = f"in/class/{dtype}/{shape_name}"
        x = w.put(f"{base}/x", rng.standard_normal(shape).astype(dtype))
        labels = rng.integers(0, classes, index_shape(shape))
        y = w.put(f"{base}/y", labels)
        ignored = labels.copy()
        ignored.reshape(-1)[::2] = 1  # ignore_index=1 removes these and any other 1s
        y_ignore = w.put(f"{base}/y_some_ignored", ignored)
        y_all = w.put(f"{base}/y_all_ignored", np.full(index_shape(shape), -100))
        weight = w.put(f"{base}/weight", rng.uniform(0.3, 2.0, classes).astype(dtype))
        t = w.put(f"{base}/t", probabilities(rng, shape).astype(dtype))
        for weighted, smoothing, reduction in itertools.product((False, True), (0.0, 0.25), ("mean", "sum", "none")):
            common = {"reduction": reduction}
            if weighted:
                common["weight"] = "@" + weight
            tag = f"{dtype}/{shape_name}/{'w' if weighted else 'nw'}/{reduction}"
            for target, ignore_index, name in ((y, -100, "all_valid"), (y_ignore, 1, "some_ignored"),
                                               (y_all, -100, "all_ignored")):
                kwargs = dict(common, ignore_index=ignore_index, label_smoothing=smoothing)
                w.case(f"cross_entropy/{tag}/ls{smoothing}/{name}", "cross_entropy", {"logits": x, "target": target},
                       kwargs, ["logits"], F.cross_entropy)
                if not smoothing:
                    w.case(f"nll_loss/{tag}/{name}", "nll_loss", {"log_probs": x, "target": target},
                           dict(common, ignore_index=ignore_index), ["log_probs"], F.nll_loss)
            w.case(f"cross_entropy/{tag}/ls{smoothing}/probabilities", "cross_entropy",
                   {"logits": x, "target": t}, dict(common, label_smoothing=smoothing), ["logits", "target"],
                   F.cross_entropy)
    for dtype in DTYPES:  # an empty batch
        x = w.put(f"in/class/{dtype}/empty/x", np.zeros((0, 4), dtype))
        y = w.put(f"in/class/{dtype}/empty/y", np.zeros((0,), np.int64))
        for reduction in ("mean", "sum", "none"):
                w.case(f"cross_entropy/{dtype}/empty/{reduction}", "cross_entropy", {"logits": x, "target": y},
                   {"reduction": reduction}, ["logits"], F.cross_entropy)
    extreme = {  # float32 logits at ±1e4, a row of equal logits, a single class
        "pm1e4": (np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [5.0, 5.0, 5.0]], np.float32), [1, 2, 0]),
        "single_class": (np.array([[3.0], [-1e4]], np.float32), [0, 0]),
    }
    for name, (logits, labels) in extreme.items():
        x = w.put(f"in/class/extreme/{name}/x", logits)
        y = w.put(f"in/class/extreme/{name}/y", np.array(labels))
        for smoothing in (0.0, 0.1):
            w.case(f"cross_entropy/float32/extreme/{name}/ls{smoothing}", "cross_entropy",
                   {"logits": x, "target": y}, {"label_smoothing": smoothing}, ["logits"], F.cross_entropy)


# ----- binary cross-entropy -----


def binary_cases(w: Writer) -> None:
    import torch.nn.functional as F

    rng = w.rng
    for dtype, shape in itertools.product(DTYPES, ((6,), (3, 4))):
        base = f"in/binary/{dtype}/{len(shape)}d"
        p = w.put(f"{base}/p", rng.uniform(0.02, 0.98, shape).astype(dtype))
        y = w.put(f"{base}/y", rng.uniform(0.0, 1.0, shape).astype(dtype))
        z = w.put(f"{base}/z", (3 * rng.standard_normal(shape)).astype(dtype))
        weight = w.put(f"{base}/weight", rng.uniform(0.3, 2.0, shape[-1:]).astype(dtype))
        pos_weight = w.put(f"{base}/pos_weight", rng.uniform(0.3, 3.0, shape[-1:]).astype(dtype))
        for reduction, weighted in itertools.product(("mean", "sum", "none"), (False, True)):
            kwargs = {"reduction": reduction}
            if weighted:
                kwargs["weight"] = "@" + weight
            tag = f"{dtype}/{len(shape)}d/{'w' if weighted else 'nw'}/{reduction}"
            w.case(f"binary_cross_entropy/{tag}", "binary_cross_entropy", {"probs": p, "target": y}, kwargs,
                   ["probs", "target"], F.binary_cross_entropy)
            for pos in (False, True):
                logit_kwargs = dict(kwargs, pos_weight="@" + pos_weight) if pos else kwargs
                w.case(f"binary_cross_entropy_with_logits/{tag}/{'pw' if pos else 'npw'}",
                       "binary_cross_entropy_with_logits", {"logits": z, "label": y}, logit_kwargs,
                       ["logits", "label"], F.binary_cross_entropy_with_logits)
    # probabilities at and next to 0 and 1 (the −100 clamp and the 1e-12 floor of the gradient)
    p = w.put("in/binary/clamp/p", np.array([0.0, 0.0, 1.0, 1.0, 1e-30, 1 - 1e-12, 0.5]))
    y = w.put("in/binary/clamp/y", np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.25]))
    w.case("binary_cross_entropy/float64/clamp", "binary_cross_entropy", {"probs": p, "target": y},
           {"reduction": "none"}, ["probs"], F.binary_cross_entropy)
    z = w.put("in/binary/extreme/z", np.array([1e4, -1e4, 1e4, -1e4, 0.0], np.float32))
    y = w.put("in/binary/extreme/label", np.array([1.0, 0.0, 0.0, 1.0, 0.5], np.float32))
    w.case("binary_cross_entropy_with_logits/float32/extreme", "binary_cross_entropy_with_logits",
           {"logits": z, "label": y}, {"reduction": "none"}, ["logits", "label"], F.binary_cross_entropy_with_logits)


# ----- regression losses and kl_div -----


def regression_cases(w: Writer) -> None:
    import torch.nn.functional as F

    rng = w.rng
    for dtype, shape in itertools.product(DTYPES, ((7,), (3, 4))):
        base = f"in/regression/{dtype}/{len(shape)}d"
        a = w.put(f"{base}/a", (1.5 * rng.standard_normal(shape)).astype(dtype))
        b = w.put(f"{base}/b", (1.5 * rng.standard_normal(shape)).astype(dtype))
        log_q = w.put(f"{base}/log_q", np.log(probabilities(rng, shape[::-1]).T.reshape(shape)).astype(dtype))
        p = probabilities(rng, shape[::-1]).T.reshape(shape)
        target_p = w.put(f"{base}/p", p.astype(dtype))
        target_log_p = w.put(f"{base}/log_p", np.log(p).astype(dtype))
        pair = {"input": a, "target": b}
        for reduction in ("mean", "sum", "none"):
            tag = f"{dtype}/{len(shape)}d/{reduction}"
            kwargs = {"reduction": reduction}
            w.case(f"mse_loss/{tag}", "mse_loss", pair, kwargs, ["input", "target"], F.mse_loss)
            w.case(f"l1_loss/{tag}", "l1_loss", pair, kwargs, ["input", "target"], F.l1_loss)
            for beta in (1.0, 0.5, 0.0):
                w.case(f"smooth_l1_loss/{tag}/beta{beta}", "smooth_l1_loss", pair, dict(kwargs, beta=beta),
                       ["input", "target"], F.smooth_l1_loss)
            for delta in (1.0, 0.5, 2.0):
                w.case(f"huber_loss/{tag}/delta{delta}", "huber_loss", pair, dict(kwargs, delta=delta),
                       ["input", "target"], F.huber_loss)
        for reduction, log_target in itertools.product(("mean", "sum", "none", "batchmean"), (False, True)):
            target = target_log_p if log_target else target_p
            w.case(f"kl_div/{dtype}/{len(shape)}d/{reduction}/log_target{log_target}", "kl_div",
                   {"log_input": log_q, "target": target}, {"reduction": reduction, "log_target": log_target},
                   ["log_input", "target"], F.kl_div)


# ----- activations -----


def activation_cases(w: Writer) -> None:
    import torch.nn.functional as F

    rng = w.rng
    ordinary = {dtype: w.put(f"in/{dtype}/x", (3 * rng.standard_normal((4, 5))).astype(dtype)) for dtype in DTYPES}
    extreme = w.put("in/float32/extreme", np.array([[1e4, -1e4, 0.0, 5.0, -30.0], [-1e4, -1e4, -1e4, -1e4, -1e4],
                                                    [3.0, 3.0, 3.0, 3.0, 3.0]], np.float32))
    specs = [  # (softgrad name, softgrad kwargs, torch function, torch kwargs)
        ("softmax", {"axis": -1}, F.softmax, {"dim": -1}),
        ("softmax", {"axis": 0}, F.softmax, {"dim": 0}),
        ("log_softmax", {"axis": -1}, F.log_softmax, {"dim": -1}),
        ("log_softmax", {"axis": 0}, F.log_softmax, {"dim": 0}),
        ("sigmoid", {}, F.sigmoid, {}),
        ("logsigmoid", {}, F.logsigmoid, {}),
        ("softplus", {}, F.softplus, {}),
        ("tanh", {}, F.tanh, {}),
        ("relu", {}, F.relu, {}),
        ("leaky_relu", {"negative_slope": 0.1}, F.leaky_relu, {"negative_slope": 0.1}),
        ("elu", {"alpha": 1.5}, F.elu, {"alpha": 1.5}),
        ("gelu", {}, F.gelu, {}),
        ("gelu", {"approximate": "tanh"}, F.gelu, {"approximate": "tanh"}),
    ]
    for (name, kwargs, torch_fn, torch_kwargs), (label, x) in itertools.product(
            specs, list(ordinary.items()) + [("extreme", extreme)]):
        options = "-".join(f"{k}{v}" for k, v in kwargs.items())
        w.case(f"{name}/{label}/{options}", name, {"x": x}, kwargs, ["x"], torch_fn, torch_kwargs)


def generate(out_dir: Path) -> list[Path]:
    import torch

    torch.manual_seed(SEED)
    losses = Writer(np.random.default_rng(SEED))
    class_cases(losses)
    binary_cases(losses)
    regression_cases(losses)
    activations = Writer(np.random.default_rng(SEED + 1))
    activation_cases(activations)
    return [losses.save(out_dir / "losses.npz"), activations.save(out_dir / "losses_activations.npz")]
