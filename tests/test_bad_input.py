"""The bad-input contract of the public API (README: "Bad input: what raises, what propagates"): every wrong
call below raises the exception type of its row, and the message names the argument and the actual value
(each fragment of the row must appear in it). Wrong types, shapes, out-of-range options and non-finite
hyperparameters raise; NaN inside the data propagates as in NumPy, so it is not in this table.

Every new public function, layer and option joins this table.
"""

import math

import numpy as np
import pytest

import softgrad as sg
from softgrad import info, nn, ops, optim
from softgrad.data import ArrayDataset, DataLoader

NAN, INF = float("nan"), float("inf")
X23 = np.ones((2, 3), np.float32)
X4 = np.ones((2, 1, 6, 6), np.float32)  # an NCHW batch
Y3 = np.array([0, 1, 2])
P3 = np.array([0.2, 0.3, 0.5])

ROWS = []


def bad(name, call, error, *fragments):
    """One wrong call: ``call()`` raises ``error`` whose message contains every fragment."""
    ROWS.append(pytest.param(call, error, fragments, id=name))


def params(*shapes):
    return [sg.Parameter(np.zeros(shape, np.float32), name=f"p{i}") for i, shape in enumerate(shapes)]


def sgd(**kwargs):
    return optim.SGD(params((2,)), **dict({"lr": 0.1}, **kwargs))


def adam(cls=optim.Adam, **kwargs):
    return cls(params((2,)), **kwargs)


# ----- Tensor and Parameter -----

bad("Tensor(str)", lambda: sg.Tensor("abc"), TypeError, "data", "'abc'")
bad("Tensor(None)", lambda: sg.Tensor(None), TypeError, "data", "None")
bad("Tensor(list of str)", lambda: sg.Tensor(["x", "y"]), TypeError, "data", "['x', 'y']")
bad("Tensor(list with None)", lambda: sg.Tensor([1.0, None]), TypeError, "data", "[1.0, None]")
bad("Tensor(dict)", lambda: sg.Tensor({"a": 1}), TypeError, "data", "{'a': 1}")
bad("Tensor(object)", lambda: sg.Tensor(object()), TypeError, "data", "object")
bad("Tensor(object array)", lambda: sg.Tensor(np.array([1, "a"], dtype=object)), TypeError, "data", "object")
bad("Tensor(ragged)", lambda: sg.Tensor([[1.0, 2.0], [3.0]]), ValueError, "data", "[[1.0, 2.0], [3.0]]")
bad("Tensor(str, dtype)", lambda: sg.Tensor("abc", sg.float32), ValueError, "data", "'abc'")
bad("Tensor(bytes)", lambda: sg.Tensor(b"ab"), TypeError, "data", "b'ab'")
bad("Parameter(str)", lambda: sg.Parameter("abc"), TypeError, "default_input", "'abc'")
bad("Parameter(None)", lambda: sg.Parameter(None), TypeError, "default_input", "None")
bad("Parameter(name=3)", lambda: sg.Parameter(X23, name=3), TypeError, "name", "3")
bad("Parameter(requires_grad='yes')", lambda: sg.Parameter(X23, requires_grad="yes"), TypeError, "requires_grad",
    "'yes'")
bad("Parameter.set_data(shape)", lambda: sg.Parameter(X23, name="w").set_data(np.ones(3)), ValueError, "'w'", "(3,)")

# ----- elementwise ops: data that is not numbers -----

UNARY = ["abs", "cos", "exp", "expm1", "log", "log1p", "neg", "relu", "sigmoid", "sign", "softplus", "sin", "sqrt",
         "square", "tanh", "isfinite", "isnan", "logical_not", "elu", "gelu", "leaky_relu", "logsigmoid"]
for _name in UNARY:
    bad(f"{_name}(str)", lambda f=getattr(ops, _name): f("abc"), TypeError, "'abc'")
    bad(f"{_name}(None)", lambda f=getattr(ops, _name): f(None), TypeError, "None")

BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "mod", "floordiv", "equal", "not_equal", "greater",
          "greater_equal", "less", "less_equal", "logical_and", "logical_or", "logical_xor", "xlogy"]
for _name in BINARY:
    bad(f"{_name}(shapes)", lambda f=getattr(ops, _name): f(np.ones(2), np.ones(3)), ValueError, "(2,)", "(3,)")
    bad(f"{_name}(str)", lambda f=getattr(ops, _name): f(np.ones(2), "abc"), TypeError, "'abc'")
bad("where(shapes)", lambda: ops.where(np.ones(2, bool), np.ones(2), np.ones(3)), ValueError, "(2,)", "(3,)")
bad("clip(str)", lambda: ops.clip(np.ones(2), "a", 1.0), TypeError, "'a'")

# ----- reductions and the softmax family: axes -----

AXIS_OPS = ["sum", "mean", "prod", "max", "min", "var", "std", "argmax", "argmin", "logsumexp", "softmax",
            "log_softmax", "normalize"]
for _name in AXIS_OPS:
    bad(f"{_name}(axis=5)", lambda f=getattr(ops, _name): f(X23, axis=5), ValueError, "axis", "5")
    bad(f"{_name}(axis=str)", lambda f=getattr(ops, _name): f(X23, axis="a"), TypeError, "axis", "'a'")
for _name in ["sum", "mean", "max", "var", "logsumexp"]:
    bad(f"{_name}(axis repeated)", lambda f=getattr(ops, _name): f(X23, axis=(0, 0)), ValueError, "axis", "(0, 0)")
bad("var(ddof=-1)", lambda: ops.var(X23, ddof=-1), ValueError, "ddof", "-1")
bad("normalize(ord=3)", lambda: ops.normalize(X23, ord=3), ValueError, "ord", "3")
bad("gelu(approximate)", lambda: ops.gelu(X23, approximate="fast"), ValueError, "approximate", "'fast'")
bad("leaky_relu(negative_slope=str)", lambda: ops.leaky_relu(X23, negative_slope="a"), TypeError, "negative_slope",
    "'a'")
bad("elu(alpha=str)", lambda: ops.elu(X23, alpha="a"), TypeError, "alpha", "'a'")

# ----- shape ops -----

bad("reshape(size)", lambda: ops.reshape(np.ones(6), (4,)), ValueError, "6", "(4,)")
bad("transpose(axes repeated)", lambda: ops.transpose(X23, (0, 0)), ValueError, "(0, 0)")
bad("transpose(axes length)", lambda: ops.transpose(X23, (0,)), ValueError, "(0,)")
bad("swapaxes(axis)", lambda: ops.swapaxes(X23, 0, 5), ValueError, "5")
bad("expand_dims(axis)", lambda: ops.expand_dims(X23, 5), ValueError, "5")
bad("squeeze(axis of size 3)", lambda: ops.squeeze(X23, 1), ValueError, "1")
bad("concat(shapes)", lambda: ops.concat([X23, np.ones((2, 4))], axis=0), ValueError, "(2, 3)", "(2, 4)")
bad("concat(axis)", lambda: ops.concat([X23, X23], axis=5), ValueError, "5")
bad("stack(shapes)", lambda: ops.stack([X23, np.ones((3, 2))]), ValueError, "(2, 3)", "(3, 2)")
bad("split(sections)", lambda: ops.split(np.ones(5), 2), ValueError, "2", "5")
bad("take(index)", lambda: ops.take(np.ones(3), np.array([5])), IndexError, "5")
bad("gather(index)", lambda: ops.gather(np.ones(3), np.array([5])), IndexError, "5")
bad("take_along_axis(float indices)", lambda: ops.take_along_axis(X23, np.ones((2, 1)), 1), TypeError, "indices",
    "float64")
bad("one_hot(float)", lambda: ops.one_hot(np.array([0.5]), 3), TypeError, "indices", "float64")
bad("one_hot(depth=0)", lambda: ops.one_hot(np.array([0]), 0), ValueError, "depth", "0")
bad("astype(dtype)", lambda: ops.astype(X23, "abc"), TypeError, "'abc'")
bad("broadcast_to(shape)", lambda: ops.broadcast_to(np.ones(3), (2, 2)), ValueError, "(3,)", "(2, 2)")
bad("flatten(start_dim=5)", lambda: ops.flatten(np.ones((2, 3, 4)), 5), ValueError, "start_dim", "5")
bad("getitem(index)", lambda: ops.getitem(np.ones(3), 5), IndexError, "5")

# ----- creation and linear algebra -----

bad("ones(-1)", lambda: ops.ones(-1), ValueError, "negative")
bad("zeros(str)", lambda: ops.zeros("a"), ValueError, "'a'")
bad("full(fill str)", lambda: ops.full((2,), "x"), ValueError, "'x'")
bad("arange(step=0)", lambda: ops.arange(0, 10, 0), ValueError, "step", "0")
bad("linspace(num=-1)", lambda: ops.linspace(0, 1, -1), ValueError, "-1")
bad("eye(-1)", lambda: ops.eye(-1), ValueError, "-1")
bad("matmul(shapes)", lambda: ops.matmul(X23, X23), ValueError, "(2, 3)")
bad("matmul(0-d)", lambda: ops.matmul(np.float32(1), X23), ValueError, "matmul")
bad("dot(lengths)", lambda: ops.dot(np.ones(2), np.ones(3)), ValueError, "(2,)", "(3,)")
bad("outer(str)", lambda: ops.outer(np.ones(2), "a"), TypeError, "'a'")

# ----- the fused NN kernels -----

bad("dense(x 1-d)", lambda: ops.dense(np.ones(3), X23), ValueError, "(3,)", "(2, 3)")
bad("dense(in mismatch)", lambda: ops.dense(np.ones((4, 2)), X23), ValueError, "(4, 2)", "(2, 3)")
bad("dense(bias shape)", lambda: ops.dense(np.ones((4, 3)), X23, np.ones(3)), ValueError, "bias", "(3,)")
bad("dense(activation='ones')", lambda: ops.dense(np.ones((4, 3)), X23, activation="ones"), ValueError,
    "activation", "'ones'")
bad("conv2d(x 3-d)", lambda: ops.conv2d(np.ones((1, 6, 6)), np.ones((2, 1, 3, 3))), ValueError, "(1, 6, 6)")
bad("conv2d(channels)", lambda: ops.conv2d(X4, np.ones((2, 3, 3, 3))), ValueError, "channels", "3")
bad("conv2d(stride=0)", lambda: ops.conv2d(X4, np.ones((2, 1, 3, 3)), stride=0), ValueError, "stride", "0")
bad("conv2d(stride=-1)", lambda: ops.conv2d(X4, np.ones((2, 1, 3, 3)), stride=-1), ValueError, "stride", "-1")
bad("conv2d(activation='gelu')", lambda: ops.conv2d(X4, np.ones((2, 1, 3, 3)), activation="gelu"), ValueError,
    "activation", "'gelu'")
bad("conv2d(bias shape)", lambda: ops.conv2d(X4, np.ones((2, 1, 3, 3)), bias=np.ones(3)), ValueError, "bias",
    "(2,)", "(3,)")
bad("conv2d(kernel too big)", lambda: ops.conv2d(X4, np.ones((2, 1, 9, 9))), ValueError, "(9, 9)", "(6, 6)")
bad("max_pool2d(x 3-d)", lambda: ops.max_pool2d(np.ones((1, 6, 6)), 2), ValueError, "(1, 6, 6)")
bad("max_pool2d(kernel too big)", lambda: ops.max_pool2d(X4, 9), ValueError, "(9, 9)")
bad("max_pool2d(kernel=-1)", lambda: ops.max_pool2d(X4, -1), ValueError, "kernel_size", "-1")
bad("max_pool2d(ceil_mode=1)", lambda: ops.max_pool2d(X4, 2, ceil_mode=1), TypeError, "ceil_mode", "int 1")
bad("max_pool2d(return_indices=None)", lambda: ops.max_pool2d(X4, 2, return_indices=None), TypeError,
    "return_indices", "None")
bad("max_pool2d(dilation=0)", lambda: ops.max_pool2d(X4, 2, dilation=0), ValueError, "dilation must be >= 1", "(0, 0)")
bad("max_pool2d(dilation too wide)", lambda: ops.max_pool2d(X4, 3, stride=1, dilation=3), ValueError, "dilation (3, 3)",
    "(6, 6)")
bad("max_pool2d(dilation=-1)", lambda: ops.max_pool2d(X4, 2, dilation=-1), ValueError, "dilation", "-1")
bad("max_pool2d(stride=0, ceil_mode)", lambda: ops.max_pool2d(X4, 2, stride=0, ceil_mode=True), ValueError, "stride",
    "(0, 0)")
bad("max_pool2d(ceil_mode, kernel too big)", lambda: ops.max_pool2d(X4, (2, 9), stride=1, ceil_mode=True),
    ValueError, "(2, 9)", "(6, 6)")

# ----- losses -----

LOSS_CALLS = {
    "cross_entropy": lambda **kw: ops.cross_entropy(X23, np.array([0, 1]), **kw),
    "nll_loss": lambda **kw: ops.nll_loss(X23, np.array([0, 1]), **kw),
    "binary_cross_entropy": lambda **kw: ops.binary_cross_entropy(X23 / 2, X23 / 2, **kw),
    "binary_cross_entropy_with_logits": lambda **kw: ops.binary_cross_entropy_with_logits(X23, X23, **kw),
    "mse_loss": lambda **kw: ops.mse_loss(X23, X23, **kw),
    "l1_loss": lambda **kw: ops.l1_loss(X23, X23, **kw),
    "smooth_l1_loss": lambda **kw: ops.smooth_l1_loss(X23, X23, **kw),
    "huber_loss": lambda **kw: ops.huber_loss(X23, X23, **kw),
    "kl_div": lambda **kw: ops.kl_div(X23, X23, **kw),
}
for _name, _call in LOSS_CALLS.items():
    bad(f"{_name}(reduction)", lambda c=_call: c(reduction="avg"), ValueError, "reduction", "'avg'")
for _name, _input, _target in [("mse_loss", "input", "target"), ("l1_loss", "input", "target"),
                               ("smooth_l1_loss", "input", "target"), ("huber_loss", "input", "target"),
                               ("binary_cross_entropy_with_logits", "logits", "label")]:
    bad(f"{_name}(target shape)", lambda f=getattr(ops, _name): f(X23, np.ones((3, 2), np.float32)), ValueError,
        _target, "(3, 2)")
    bad(f"{_name}(int input)", lambda f=getattr(ops, _name): f(np.ones((2, 3), np.int64), X23), TypeError,
        _input, "int64")
bad("smooth_l1_loss(beta=-1)", lambda: ops.smooth_l1_loss(X23, X23, beta=-1.0), ValueError, "beta", "-1.0")
bad("smooth_l1_loss(beta=nan)", lambda: ops.smooth_l1_loss(X23, X23, beta=NAN), ValueError, "beta", "nan")
bad("smooth_l1_loss(beta=inf)", lambda: ops.smooth_l1_loss(X23, X23, beta=INF), ValueError, "beta", "inf")
bad("huber_loss(delta=0)", lambda: ops.huber_loss(X23, X23, delta=0.0), ValueError, "delta", "0.0")
bad("huber_loss(delta=nan)", lambda: ops.huber_loss(X23, X23, delta=NAN), ValueError, "delta", "nan")
bad("huber_loss(delta=inf)", lambda: ops.huber_loss(X23, X23, delta=INF), ValueError, "delta", "inf")
bad("cross_entropy(label_smoothing=2)", lambda: ops.cross_entropy(X23, np.array([0, 1]), label_smoothing=2.0),
    ValueError, "label_smoothing", "2.0")
bad("cross_entropy(label_smoothing=nan)", lambda: ops.cross_entropy(X23, np.array([0, 1]), label_smoothing=NAN),
    ValueError, "label_smoothing", "nan")
bad("cross_entropy(ignore_index=1.5)", lambda: ops.cross_entropy(X23, np.array([0, 1]), ignore_index=1.5),
    TypeError, "ignore_index", "1.5")
bad("nll_loss(ignore_index=1.5)", lambda: ops.nll_loss(X23, np.array([0, 1]), ignore_index=1.5), TypeError,
    "ignore_index", "1.5")
bad("cross_entropy(class 5)", lambda: ops.cross_entropy(X23, np.array([0, 5])), ValueError, "target", "5")
bad("cross_entropy(float target shape)", lambda: ops.cross_entropy(X23, np.ones((2, 4), np.float32)), ValueError,
    "target", "(2, 4)")
bad("cross_entropy(weight shape)", lambda: ops.cross_entropy(X23, np.array([0, 1]), weight=np.ones(4)), ValueError,
    "weight", "(4,)")
bad("binary_cross_entropy(probs > 1)", lambda: ops.binary_cross_entropy(X23 * 2, X23 / 2), ValueError, "probs",
    "2.0")
bad("binary_cross_entropy(target < 0)", lambda: ops.binary_cross_entropy(X23 / 2, -X23), ValueError, "target",
    "-1.0")
bad("bce_with_logits(pos_weight shape)",
    lambda: ops.binary_cross_entropy_with_logits(X23, X23, pos_weight=np.ones(4, np.float32)), ValueError,
    "pos_weight", "(4,)")
bad("kl_div(reduction batchmean typo)", lambda: ops.kl_div(X23, X23, reduction="batch_mean"), ValueError,
    "reduction", "'batch_mean'")

# ----- layers -----

bad("Dense(0, 10)", lambda: nn.Dense(0, 10), ValueError, "in_channels", "0")
bad("Dense(-1, 10)", lambda: nn.Dense(-1, 10), ValueError, "in_channels", "-1")
bad("Dense(2.5, 10)", lambda: nn.Dense(2.5, 10), TypeError, "in_channels", "2.5")
bad("Dense(3, 0)", lambda: nn.Dense(3, 0), ValueError, "out_channels", "0")
bad("Dense(True, 3)", lambda: nn.Dense(True, 3), TypeError, "in_channels", "True")
bad("Dense(activation='ones')", lambda: nn.Dense(3, 2, activation="ones"), ValueError, "activation", "'ones'")
bad("Dense(activation='softmax_kernels')", lambda: nn.Dense(3, 2, activation="softmax_kernels"), ValueError,
    "activation", "'softmax_kernels'")
bad("Dense(activation=3)", lambda: nn.Dense(3, 2, activation=3), ValueError, "activation", "3")
bad("Dense(weight_init)", lambda: nn.Dense(3, 2, weight_init="nope"), ValueError, "initialiser", "'nope'")
bad("Dense(weight_init shape)", lambda: nn.Dense(3, 2, weight_init=np.ones((3, 2))), ValueError, "(3, 2)", "(2, 3)")
bad("Dense()(features)", lambda: nn.Dense(4, 2)(X23), ValueError, "4", "(2, 3)")
bad("Dense.weight = other shape", lambda: setattr(nn.Dense(3, 2), "weight", sg.Parameter(np.ones((3, 3)))),
    ValueError, "weight", "(3, 3)")
bad("Linear(0, 1)", lambda: nn.Linear(0, 1), ValueError, "in_channels", "0")
bad("Flatten(start_dim=5)", lambda: nn.Flatten(start_dim=5)(np.ones((2, 3, 4))), ValueError, "start_dim=5",
    "(2, 3, 4)")
bad("Flatten(end_dim=-5)", lambda: nn.Flatten(end_dim=-5)(np.ones((2, 3, 4))), ValueError, "end_dim=-5",
    "(2, 3, 4)")
bad("Flatten(start after end)", lambda: nn.Flatten(2, 1)(np.ones((2, 3, 4))), ValueError, "start_dim=2", "end_dim=1")
bad("Flatten(start_dim=1.5)", lambda: nn.Flatten(start_dim=1.5), TypeError, "start_dim", "1.5")
bad("Dropout(p=1)", lambda: nn.Dropout(p=1.0), ValueError, "p", "1.0")
bad("Dropout(p=-0.1)", lambda: nn.Dropout(p=-0.1), ValueError, "p", "-0.1")
bad("Dropout(p=nan)", lambda: nn.Dropout(p=NAN), ValueError, "p", "nan")
bad("Dropout(p=str)", lambda: nn.Dropout(p="0.5"), TypeError, "p", "'0.5'")
bad("BatchNorm1d(0)", lambda: nn.BatchNorm1d(0), ValueError, "num_features", "0")
bad("BatchNorm1d(2.5)", lambda: nn.BatchNorm1d(2.5), TypeError, "num_features", "2.5")
bad("BatchNorm1d(momentum=nan)", lambda: nn.BatchNorm1d(3, momentum=NAN), ValueError, "momentum", "nan")
bad("BatchNorm1d(momentum=1.5)", lambda: nn.BatchNorm1d(3, momentum=1.5), ValueError, "momentum", "1.5")
bad("BatchNorm1d(eps=0)", lambda: nn.BatchNorm1d(3, eps=0.0), ValueError, "eps", "0.0")
bad("BatchNorm1d(eps=nan)", lambda: nn.BatchNorm1d(3, eps=NAN), ValueError, "eps", "nan")
bad("BatchNorm1d()(features)", lambda: nn.BatchNorm1d(4)(X23), ValueError, "4", "(2, 3)")
bad("Conv2d(stride=0)", lambda: nn.Conv2d(1, 4, 3, stride=0), ValueError, "stride", "0")
bad("Conv2d(stride=(1, 0))", lambda: nn.Conv2d(1, 4, 3, stride=(1, 0)), ValueError, "stride", "(1, 0)")
bad("Conv2d(kernel_size=0)", lambda: nn.Conv2d(1, 4, 0), ValueError, "kernel_size", "0")
bad("Conv2d(kernel_size=1.5)", lambda: nn.Conv2d(1, 4, 1.5), ValueError, "kernel_size", "1.5")
bad("Conv2d(in_channels=0)", lambda: nn.Conv2d(0, 4, 3), ValueError, "in_channels", "0")
bad("Conv2d(out_channels=-2)", lambda: nn.Conv2d(1, -2, 3), ValueError, "out_channels", "-2")
bad("Conv2d(pad_mode)", lambda: nn.Conv2d(1, 4, 3, pad_mode="full"), ValueError, "pad_mode", "'full'")
bad("Conv2d(padding without pad_mode)", lambda: nn.Conv2d(1, 4, 3, padding=1), ValueError, "padding=1", "'same'")
bad("Conv2d(padding=-1)", lambda: nn.Conv2d(1, 4, 3, pad_mode="pad", padding=-1), ValueError, "padding", "-1")
bad("Conv2d(padding=str)", lambda: nn.Conv2d(1, 4, 3, pad_mode="pad", padding="a"), ValueError, "padding", "'a'")
bad("Conv2d(dilation=0)", lambda: nn.Conv2d(1, 4, 3, dilation=0), ValueError, "dilation", "0")
bad("Conv2d(group=0)", lambda: nn.Conv2d(2, 4, 3, group=0), ValueError, "group", "0")
bad("Conv2d(group=1.0)", lambda: nn.Conv2d(2, 4, 3, group=1.0), TypeError, "group", "1.0")
bad("Conv2d(group not dividing)", lambda: nn.Conv2d(4, 6, 3, group=4), ValueError, "group=4", "out_channels=6")
bad("Conv2d()(channels)", lambda: nn.Conv2d(3, 4, 3)(X4), ValueError, "channels", "3")
bad("MaxPool2d(0)", lambda: nn.MaxPool2d(0), ValueError, "kernel_size", "0")
bad("MaxPool2d(stride=0)", lambda: nn.MaxPool2d(2, stride=0), ValueError, "stride", "0")
bad("MaxPool2d(pad_mode)", lambda: nn.MaxPool2d(2, pad_mode="full"), ValueError, "pad_mode", "'full'")
bad("MaxPool2d(padding=-1)", lambda: nn.MaxPool2d(2, pad_mode="pad", padding=-1), ValueError, "padding", "-1")
bad("MaxPool2d(dilation too wide)", lambda: nn.MaxPool2d(2, dilation=6)(X4), ValueError, "dilation (6, 6)", "(6, 6)")
bad("MaxPool2d(dilation=0)", lambda: nn.MaxPool2d(2, dilation=0), ValueError, "dilation", "0")
bad("MaxPool2d(return_indices=1)", lambda: nn.MaxPool2d(2, return_indices=1), TypeError, "return_indices", "1")
bad("MaxPool2d(ceil_mode=str)", lambda: nn.MaxPool2d(2, ceil_mode="True"), TypeError, "ceil_mode", "'True'")
bad("MaxPool2d(data_format)", lambda: nn.MaxPool2d(2, data_format="NCWH"), ValueError, "data_format", "'NCHW'",
    "'NHWC'", "'NCWH'")
bad("AvgPool2d(data_format)", lambda: nn.AvgPool2d(2, data_format="nhwc"), ValueError, "data_format", "'NHWC'",
    "'nhwc'")
bad("MaxPool2d(NHWC, 3-d)", lambda: nn.MaxPool2d(2, data_format="NHWC")(np.ones((6, 6, 1))), ValueError, "NHWC",
    "(N, H, W, C)", "(6, 6, 1)")
bad("SequentialCell(function)", lambda: nn.SequentialCell(nn.ReLU(), ops.relu), TypeError, "function",
    "position 1")
bad("init.initialize(name)", lambda: nn.init.initialize("nope", (2, 2)), ValueError, "initialiser", "'nope'")
bad("init.initialize(shape)", lambda: nn.init.initialize(np.ones(3), (2, 2)), ValueError, "(3,)", "(2, 2)")
bad("init fan of a vector", lambda: nn.init.initialize("he_uniform", (3,)), ValueError, "shape", "(3,)")
for _cell in ["CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss", "SmoothL1Loss",
              "HuberLoss", "KLDivLoss"]:
    bad(f"{_cell}(reduction)", lambda c=getattr(nn, _cell): c(reduction="avg"), ValueError, "reduction", "'avg'")
bad("CrossEntropyLoss(label_smoothing=-1)", lambda: nn.CrossEntropyLoss(label_smoothing=-1.0), ValueError,
    "label_smoothing", "-1.0")
bad("CrossEntropyLoss(ignore_index=1.5)", lambda: nn.CrossEntropyLoss(ignore_index=1.5), TypeError, "ignore_index",
    "1.5")
bad("NLLLoss(ignore_index=None)", lambda: nn.NLLLoss(ignore_index=None), TypeError, "ignore_index", "None")
bad("SmoothL1Loss(beta=nan)", lambda: nn.SmoothL1Loss(beta=NAN), ValueError, "beta", "nan")
bad("HuberLoss(delta=-1)", lambda: nn.HuberLoss(delta=-1.0), ValueError, "delta", "-1.0")

# ----- optimizers -----

for _name, _value in [("lr", NAN), ("lr", INF), ("lr", -1.0), ("momentum", NAN), ("momentum", INF),
                      ("momentum", -0.5), ("dampening", NAN), ("dampening", 2.0), ("weight_decay", NAN),
                      ("weight_decay", INF), ("weight_decay", -1.0)]:
    bad(f"SGD({_name}={_value})", lambda n=_name, v=_value: sgd(**{n: v}), ValueError, _name, repr(_value))
for _name, _value in [("lr", "0.1"), ("momentum", None), ("weight_decay", [0.1]), ("lr", True)]:
    bad(f"SGD({_name}={_value!r})", lambda n=_name, v=_value: sgd(**{n: v}), TypeError, _name, repr(_value))
bad("SGD(nesterov, momentum 0)", lambda: sgd(nesterov=True), ValueError, "nesterov", "momentum=0.0")
bad("SGD(nesterov, dampening)", lambda: sgd(nesterov=True, momentum=0.9, dampening=0.1), ValueError, "nesterov",
    "dampening=0.1")
bad("SGD(nesterov='yes')", lambda: sgd(nesterov="yes", momentum=0.9), TypeError, "nesterov", "'yes'")
for _cls in (optim.Adam, optim.AdamW):
    _n = _cls.__name__
    for _name, _value in [("lr", NAN), ("lr", INF), ("lr", -0.1), ("eps", NAN), ("eps", -1e-8),
                          ("weight_decay", NAN), ("weight_decay", INF), ("weight_decay", -0.1)]:
        bad(f"{_n}({_name}={_value})", lambda c=_cls, n=_name, v=_value: adam(c, **{n: v}), ValueError, _name,
            repr(_value))
    bad(f"{_n}(betas=(0.9,))", lambda c=_cls: adam(c, betas=(0.9,)), ValueError, "betas", "(0.9,)")
    bad(f"{_n}(betas=0.9)", lambda c=_cls: adam(c, betas=0.9), ValueError, "betas", "0.9")
    bad(f"{_n}(betas=(0.9, 1.0))", lambda c=_cls: adam(c, betas=(0.9, 1.0)), ValueError, "betas[1]", "1.0")
    bad(f"{_n}(betas=(nan, 0.9))", lambda c=_cls: adam(c, betas=(NAN, 0.9)), ValueError, "betas[0]", "nan")
    bad(f"{_n}(betas=(-0.1, 0.9))", lambda c=_cls: adam(c, betas=(-0.1, 0.9)), ValueError, "betas[0]", "-0.1")
    bad(f"{_n}(betas=(0.9, 0.99, 0.9))", lambda c=_cls: adam(c, betas=(0.9, 0.99, 0.9)), ValueError, "betas",
        "(0.9, 0.99, 0.9)")
    bad(f"{_n}(amsgrad='no')", lambda c=_cls: adam(c, amsgrad="no"), TypeError, "amsgrad", "'no'")
bad("SGD(no params)", lambda: optim.SGD([], lr=0.1), ValueError, "no parameters", "trainable_params")
bad("SGD(ndarray params)", lambda: optim.SGD([np.ones(2)], lr=0.1), TypeError, "Parameters", "ndarray")
bad("SGD(one Parameter)", lambda: optim.SGD(params((2,))[0], lr=0.1), TypeError, "params", "Parameter")
bad("opt(ndarray) for two parameters", lambda: optim.SGD(params((2,), (3,)), lr=0.1)(np.ones(2)), TypeError, "grads",
    "ndarray", "tuple of 2 gradients")
bad("opt.step()", lambda: sgd().step(), TypeError, "step()", "optimizer.step(grads)")
bad("opt()", lambda: sgd()(), TypeError, "step()", "optimizer(grads)")
bad("opt(str)", lambda: sgd()("ab"), TypeError, "grads", "str")
bad("opt(dict)", lambda: sgd()({"p0": np.ones(2)}), TypeError, "grads", "dict")
bad("opt(count)", lambda: sgd()([np.ones(2), np.ones(2)]), ValueError, "2 gradient(s)", "1 parameter(s)")
bad("opt(shape)", lambda: sgd()([np.ones(3)]), ValueError, "'p0'", "(3,)")
bad("opt(None gradient)", lambda: sgd()([None]), TypeError, "'p0'", "None")
bad("opt(str gradient)", lambda: sgd()([np.array(["a", "b"])]), TypeError, "'p0'", "['a', 'b']")


def load(optimizer, **changes):
    state = optimizer.state_dict()
    for key, value in changes.items():
        if key in state["hyperparameters"]:
            state["hyperparameters"][key] = value
        else:
            state[key] = value
    optimizer.load_state_dict(state)


bad("load_state_dict(momentum=-5)", lambda: load(sgd(momentum=0.9), momentum=-5), ValueError, "momentum", "-5")
bad("load_state_dict(momentum=nan)", lambda: load(sgd(momentum=0.9), momentum=NAN), ValueError, "momentum", "nan")
bad("load_state_dict(update=1)", lambda: sgd().load_state_dict(dict(sgd().state_dict(), hyperparameters={"update": 1})),
    ValueError, "hyperparameters", "'update'")
bad("load_state_dict(unknown key)", lambda: load(sgd(), step=3), ValueError, "state_dict", "'step'")
bad("load_state_dict(lr=nan)", lambda: load(sgd(), lr=NAN), ValueError, "lr", "nan")
bad("load_state_dict(lr=str)", lambda: load(sgd(), lr="0.1"), TypeError, "lr", "'0.1'")
bad("load_state_dict(initial_lr=inf)", lambda: load(sgd(), initial_lr=INF), ValueError, "initial_lr", "inf")
bad("load_state_dict(step_count=-1)", lambda: load(sgd(), step_count=-1), ValueError, "step_count", "-1")
bad("load_state_dict(step_count=1.5)", lambda: load(sgd(), step_count=1.5), TypeError, "step_count", "1.5")
bad("load_state_dict(betas=(0.9,))", lambda: load(adam(), betas=[0.9]), ValueError, "betas", "[0.9]")
bad("load_state_dict(eps=-1)", lambda: load(adam(), eps=-1.0), ValueError, "eps", "-1.0")
bad("load_state_dict(nesterov=str)", lambda: load(sgd(momentum=0.9), nesterov="true"), TypeError, "nesterov",
    "'true'")
bad("load_state_dict(not a dict)", lambda: sgd().load_state_dict([1, 2]), TypeError, "state_dict", "[1, 2]")
bad("load_state_dict(missing state)", lambda: sgd().load_state_dict({"lr": 0.1, "step_count": 0}), ValueError,
    "lacks", "'state'")
bad("load_state_dict(state count)", lambda: load(sgd(), state=[{}, {}]), ValueError, "2 parameter(s)", "1")
bad("load_state_dict(state name)", lambda: load(sgd(momentum=0.9), state=[{"buffer": np.zeros(2)}]), ValueError,
    "'p0'", "['buffer']")
bad("load_state_dict(state shape)", lambda: load(sgd(momentum=0.9), state=[{"momentum_buffer": np.zeros(3)}]),
    ValueError, "momentum_buffer", "(3,)")
bad("load_state_dict(state nan)", lambda: load(sgd(momentum=0.9), state=[{"momentum_buffer": [NAN, 0.0]}]),
    ValueError, "momentum_buffer", "nan")
bad("load_state_dict(state str)", lambda: load(sgd(momentum=0.9), state=[{"momentum_buffer": ["a", "b"]}]),
    ValueError, "momentum_buffer", "<U1")
bad("load_state_dict(exp_avg_sq<0)", lambda: load(adam(), state=[{"exp_avg": [0.0, 0.0], "exp_avg_sq": [1.0, -2.0]}]),
    ValueError, "exp_avg_sq", "negative", "-2.0")
bad("load_state_dict(AdamW exp_avg_sq<0)", lambda: load(adam(optim.AdamW), state=[{"exp_avg": [0.0, 0.0],
                                                                                  "exp_avg_sq": [-1e-3, 0.0]}]),
    ValueError, "exp_avg_sq", "negative", "-0.001")
bad("load_state_dict(Adam state half)", lambda: load(adam(), state=[{"exp_avg": np.zeros(2)}]), ValueError, "'p0'",
    "['exp_avg']")

# ----- schedulers -----


def opt():
    return sgd()


for _call, _name, _value, _error in [
    (lambda v: optim.StepLR(opt(), step_size=v), "step_size", 0, ValueError),
    (lambda v: optim.StepLR(opt(), step_size=v), "step_size", 1.5, TypeError),
    (lambda v: optim.StepLR(opt(), step_size=v), "step_size", -3, ValueError),
    (lambda v: optim.StepLR(opt(), 2, gamma=v), "gamma", NAN, ValueError),
    (lambda v: optim.StepLR(opt(), 2, gamma=v), "gamma", INF, ValueError),
    (lambda v: optim.StepLR(opt(), 2, gamma=v), "gamma", 0.0, ValueError),
    (lambda v: optim.StepLR(opt(), 2, gamma=v), "gamma", -0.5, ValueError),
    (lambda v: optim.CosineAnnealingLR(opt(), T_max=v), "T_max", 0, ValueError),
    (lambda v: optim.CosineAnnealingLR(opt(), T_max=v), "T_max", 2.5, TypeError),
    (lambda v: optim.CosineAnnealingLR(opt(), T_max=v), "T_max", INF, TypeError),
    (lambda v: optim.CosineAnnealingLR(opt(), 5, eta_min=v), "eta_min", NAN, ValueError),
    (lambda v: optim.CosineAnnealingLR(opt(), 5, eta_min=v), "eta_min", -1.0, ValueError),
    (lambda v: optim.LinearLR(opt(), start_factor=v), "start_factor", 0.0, ValueError),
    (lambda v: optim.LinearLR(opt(), start_factor=v), "start_factor", 2.0, ValueError),
    (lambda v: optim.LinearLR(opt(), start_factor=v), "start_factor", NAN, ValueError),
    (lambda v: optim.LinearLR(opt(), end_factor=v), "end_factor", 1.5, ValueError),
    (lambda v: optim.LinearLR(opt(), end_factor=v), "end_factor", NAN, ValueError),
    (lambda v: optim.LinearLR(opt(), total_iters=v), "total_iters", 0, ValueError),
    (lambda v: optim.LinearLR(opt(), total_iters=v), "total_iters", 2.5, TypeError),
]:
    bad(f"{_name}={_value!r}", lambda c=_call, v=_value: c(v), _error, _name, repr(_value))


def sequential(milestones, schedulers=None):
    optimizer = opt()
    if schedulers is None:
        schedulers = [optim.LinearLR(optimizer, total_iters=2), optim.CosineAnnealingLR(optimizer, 4),
                      optim.StepLR(optimizer, 2)]
    return optim.SequentialLR(optimizer, schedulers, milestones)


bad("SequentialLR(milestones length)", lambda: sequential([2]), ValueError, "milestones", "[2]")
bad("SequentialLR(milestones decreasing)", lambda: sequential([5, 2]), ValueError, "milestones", "[5, 2]")
bad("SequentialLR(milestones repeated)", lambda: sequential([2, 2]), ValueError, "milestones", "[2, 2]")
bad("SequentialLR(milestone 0)", lambda: sequential([0, 2]), ValueError, "milestones[0]", "0")
bad("SequentialLR(milestone float)", lambda: sequential([1.5, 3]), TypeError, "milestones[0]", "1.5")
bad("SequentialLR(milestones int)", lambda: sequential(3), TypeError, "milestones", "3")
bad("SequentialLR(other optimizer)", lambda: sequential([2], [optim.StepLR(opt(), 2), optim.StepLR(opt(), 2)]),
    ValueError, "schedulers[0]", "StepLR")
bad("SequentialLR(no schedulers)", lambda: sequential([], []), TypeError, "schedulers", "[]")
bad("SequentialLR(not a scheduler)", lambda: sequential([], ["cosine"]), ValueError, "schedulers[0]", "'cosine'")
bad("StepLR(not an optimizer)", lambda: optim.StepLR("sgd", 2), TypeError, "optimizer", "'sgd'")
bad("scheduler.load_state_dict(-1)", lambda: optim.StepLR(opt(), 2).load_state_dict({"last_epoch": -1}), ValueError,
    "last_epoch", "-1")
bad("scheduler.load_state_dict(1.5)", lambda: optim.StepLR(opt(), 2).load_state_dict({"last_epoch": 1.5}), TypeError,
    "last_epoch", "1.5")
bad("scheduler.load_state_dict(unknown)", lambda: optim.StepLR(opt(), 2).load_state_dict({"last_epoch": 1, "gamma": 5}),
    ValueError, "state", "'gamma'")
bad("scheduler.load_state_dict(empty)", lambda: optim.StepLR(opt(), 2).load_state_dict({}), ValueError, "last_epoch")

# ----- optimizers, groups, schedules and clipping of issue #16 -----

for _make, _name, _value, _error in [
    (lambda v: optim.Momentum(params((2,)), v, 0.9), "learning_rate", NAN, ValueError),
    (lambda v: optim.Momentum(params((2,)), v, 0.9), "learning_rate", [0.1, 0.01], TypeError),
    (lambda v: optim.Momentum(params((2,)), 0.1, v), "momentum", -0.1, ValueError),
    (lambda v: optim.Momentum(params((2,)), 0.1, v), "momentum", INF, ValueError),
    (lambda v: optim.Momentum(params((2,)), 0.1, 0.9, weight_decay=v), "weight_decay", -1.0, ValueError),
    (lambda v: optim.Momentum(params((2,)), 0.1, 0.9, loss_scale=v), "loss_scale", 0.0, ValueError),
    (lambda v: optim.Momentum(params((2,)), 0.1, 0.9, loss_scale=v), "loss_scale", NAN, ValueError),
    (lambda v: optim.Momentum(params((2,)), 0.1, 0.9, use_nesterov=v), "use_nesterov", 1, TypeError),
    (lambda v: optim.RMSprop(params((2,)), lr=v), "lr", INF, ValueError),
    (lambda v: optim.RMSprop(params((2,)), alpha=v), "alpha", 1.5, ValueError),
    (lambda v: optim.RMSprop(params((2,)), alpha=v), "alpha", NAN, ValueError),
    (lambda v: optim.RMSprop(params((2,)), eps=v), "eps", -1e-8, ValueError),
    (lambda v: optim.RMSprop(params((2,)), momentum=v), "momentum", -0.9, ValueError),
    (lambda v: optim.RMSprop(params((2,)), weight_decay=v), "weight_decay", NAN, ValueError),
    (lambda v: optim.RMSprop(params((2,)), centered=v), "centered", "yes", TypeError),
    (lambda v: optim.RMSprop(params((2,)), maximize=v), "maximize", None, TypeError),
    (lambda v: optim.Adagrad(params((2,)), lr=v), "lr", -0.01, ValueError),
    (lambda v: optim.Adagrad(params((2,)), lr_decay=v), "lr_decay", -0.1, ValueError),
    (lambda v: optim.Adagrad(params((2,)), lr_decay=v), "lr_decay", INF, ValueError),
    (lambda v: optim.Adagrad(params((2,)), initial_accumulator_value=v), "initial_accumulator_value", -1.0,
     ValueError),
    (lambda v: optim.Adagrad(params((2,)), initial_accumulator_value=v), "initial_accumulator_value", NAN,
     ValueError),
    (lambda v: optim.Adagrad(params((2,)), eps=v), "eps", NAN, ValueError),
    (lambda v: optim.Adagrad(params((2,)), weight_decay=v), "weight_decay", "0", TypeError),
    (lambda v: optim.Adadelta(params((2,)), lr=v), "lr", NAN, ValueError),
    (lambda v: optim.Adadelta(params((2,)), rho=v), "rho", 1.1, ValueError),
    (lambda v: optim.Adadelta(params((2,)), rho=v), "rho", -0.1, ValueError),
    (lambda v: optim.Adadelta(params((2,)), eps=v), "eps", INF, ValueError),
    (lambda v: optim.Adadelta(params((2,)), weight_decay=v), "weight_decay", -0.5, ValueError),
    (lambda v: optim.SGD([{"params": params((2,)), "lr": v}], lr=0.1), "lr", NAN, ValueError),
    (lambda v: optim.Adam([{"params": params((2,)), "weight_decay": v}]), "weight_decay", -1.0, ValueError),
    (lambda v: optim.Adam([{"params": params((2,)), "betas": v}]), "betas", (0.9,), ValueError),
    (lambda v: optim.RMSprop([{"params": params((2,)), "alpha": v}]), "alpha", INF, ValueError),
    (lambda v: optim.Momentum([{"params": params((2,)), "weight_decay": v}], 0.1, 0.9), "weight_decay", NAN,
     ValueError),
    (lambda v: optim.ExponentialLR(opt(), gamma=v), "gamma", NAN, ValueError),
    (lambda v: optim.ExponentialLR(opt(), gamma=v), "gamma", 0.0, ValueError),
    (lambda v: optim.ExponentialLR(opt(), gamma=v), "gamma", INF, ValueError),
    (lambda v: optim.MultiStepLR(opt(), [2, 4], gamma=v), "gamma", -0.1, ValueError),
    (lambda v: optim.MultiStepLR(opt(), v), "milestones", 3, TypeError),
    (lambda v: optim.MultiStepLR(opt(), [2, v]), "milestones[1]", 2.5, TypeError),
    (lambda v: optim.MultiStepLR(opt(), [2, v]), "milestones[1]", -1, ValueError),
    (lambda v: optim.OneCycleLR(opt(), max_lr=v, total_steps=10), "max_lr", NAN, ValueError),
    (lambda v: optim.OneCycleLR(opt(), max_lr=v, total_steps=10), "max_lr", [0.1, 0.2], ValueError),
    (lambda v: optim.OneCycleLR(opt(), 0.1, total_steps=v), "total_steps", 0, ValueError),
    (lambda v: optim.OneCycleLR(opt(), 0.1, total_steps=v), "total_steps", 10.0, TypeError),
    (lambda v: optim.OneCycleLR(opt(), 0.1, epochs=v, steps_per_epoch=3), "epochs", -2, ValueError),
    (lambda v: optim.OneCycleLR(opt(), 0.1, epochs=2), "steps_per_epoch", None, ValueError),
    (lambda v: optim.OneCycleLR(opt(), 0.1, 10, pct_start=v), "pct_start", 1.5, ValueError),
    (lambda v: optim.OneCycleLR(opt(), 0.1, 10, pct_start=v), "pct_start", NAN, ValueError),
    (lambda v: optim.OneCycleLR(opt(), 0.1, 10, pct_start=v), "pct_start", 0.1, ValueError),
    (lambda v: optim.OneCycleLR(opt(), 0.1, 10, anneal_strategy=v), "anneal_strategy", "cosine", ValueError),
    (lambda v: optim.OneCycleLR(opt(), 0.1, 10, div_factor=v), "div_factor", 0.0, ValueError),
    (lambda v: optim.OneCycleLR(opt(), 0.1, 10, final_div_factor=v), "final_div_factor", INF, ValueError),
    (lambda v: optim.OneCycleLR(opt(), 0.1, 10, base_momentum=v), "base_momentum", 1.0, ValueError),
    (lambda v: optim.OneCycleLR(opt(), 0.1, 10, max_momentum=v), "max_momentum", NAN, ValueError),
    (lambda v: optim.OneCycleLR(opt(), 0.1, 10, three_phase=v), "three_phase", "no", TypeError),
    (lambda v: optim.ReduceLROnPlateau(opt(), mode=v), "mode", "minimum", ValueError),
    (lambda v: optim.ReduceLROnPlateau(opt(), factor=v), "factor", 1.0, ValueError),
    (lambda v: optim.ReduceLROnPlateau(opt(), factor=v), "factor", NAN, ValueError),
    (lambda v: optim.ReduceLROnPlateau(opt(), patience=v), "patience", -1, ValueError),
    (lambda v: optim.ReduceLROnPlateau(opt(), patience=v), "patience", 2.0, TypeError),
    (lambda v: optim.ReduceLROnPlateau(opt(), threshold=v), "threshold", INF, ValueError),
    (lambda v: optim.ReduceLROnPlateau(opt(), threshold_mode=v), "threshold_mode", "relative", ValueError),
    (lambda v: optim.ReduceLROnPlateau(opt(), cooldown=v), "cooldown", -3, ValueError),
    (lambda v: optim.ReduceLROnPlateau(opt(), min_lr=v), "min_lr", -0.1, ValueError),
    (lambda v: optim.ReduceLROnPlateau(opt(), min_lr=v), "min_lr", [0.1, 0.2], ValueError),
    (lambda v: optim.ReduceLROnPlateau(opt(), eps=v), "eps", NAN, ValueError),
    (lambda v: optim.clip_by_global_norm((X23,), clip_norm=v), "clip_norm", 0.0, ValueError),
    (lambda v: optim.clip_by_global_norm((X23,), clip_norm=v), "clip_norm", NAN, ValueError),
    (lambda v: optim.clip_by_global_norm((X23,), use_norm=v), "use_norm", INF, ValueError),
    (lambda v: optim.clip_grad_norm_((X23,), max_norm=v), "max_norm", NAN, ValueError),
    (lambda v: optim.clip_grad_norm_((X23,), max_norm=v), "max_norm", -1.0, ValueError),
    (lambda v: optim.clip_grad_norm_((X23,), 1.0, norm_type=v), "norm_type", 0.0, ValueError),
    (lambda v: optim.clip_grad_norm_((X23,), 1.0, norm_type=v), "norm_type", "two", TypeError),
    (lambda v: optim.clip_grad_norm_((X23,), 1.0, error_if_nonfinite=v), "error_if_nonfinite", 1, TypeError),
]:
    bad(f"{_name}={_value!r}", lambda c=_make, v=_value: c(v), _error, _name, repr(_value))

bad("Momentum(no momentum)", lambda: optim.Momentum(params((2,)), 0.1), TypeError, "momentum")
bad("group without params", lambda: optim.SGD([{"lr": 0.1}], lr=0.1), ValueError, "params[0]", "'params'")
bad("group unknown key", lambda: optim.SGD([{"params": params((2,)), "betas": (0.9, 0.9)}], lr=0.1), ValueError,
    "params[0]", "'betas'")
bad("group grad_centralization", lambda: optim.Momentum([{"params": params((2,)), "grad_centralization": True}],
                                                       0.1, 0.9), ValueError, "grad_centralization")
bad("group params ndarray", lambda: optim.Adam([{"params": np.ones(2)}]), TypeError, "params[0]['params']",
    "ndarray")
bad("group params empty", lambda: optim.Adam([{"params": []}]), ValueError, "params[0]['params']", "no parameters")
bad("one group dict", lambda: optim.Adam({"params": params((2,))}), TypeError, "params", "dict", "[group]")
bad("groups and Parameters mixed", lambda: optim.Adam([{"params": params((2,))}, params((2,))[0]]), TypeError,
    "Parameters", "dict")
bad("order_params with params", lambda: optim.Momentum([{"params": params((2,)), "order_params": params((2,))}],
                                                       0.1, 0.9), ValueError, "order_params", "'params'")
bad("order_params missing one", lambda: optim.Momentum([{"params": params((2,), (3,))},
                                                        {"order_params": params((2,))}], 0.1, 0.9), ValueError,
    "order_params", "1: ['p0']")
bad("optimizer.lr = nan", lambda: setattr(sgd(), "lr", NAN), ValueError, "lr", "nan")
bad("optimizer.momentum = -1", lambda: setattr(sgd(), "momentum", -1.0), ValueError, "momentum", "-1.0")
bad("load_state_dict(param_groups count)", lambda: sgd().load_state_dict({"step_count": 0, "state": [{}],
                                                                          "param_groups": []}),
    ValueError, "0 parameter group(s)", "has 1")
bad("load_state_dict(lr beside param_groups)", lambda: sgd().load_state_dict(
    dict(sgd().state_dict(), param_groups=[{"lr": 0.1}])), ValueError, "param_groups", "'lr'")
bad("OneCycleLR(Adagrad)", lambda: optim.OneCycleLR(optim.Adagrad(params((2,))), 0.1, 10), ValueError,
    "cycle_momentum", "Adagrad")
bad("OneCycleLR(not an optimizer)", lambda: optim.OneCycleLR(None, 0.1, 10), TypeError, "optimizer", "None")
bad("OneCycleLR(no total)", lambda: optim.OneCycleLR(opt(), 0.1), ValueError, "total_steps", "epochs")
bad("ReduceLROnPlateau.step(str)", lambda: optim.ReduceLROnPlateau(opt()).step("low"), TypeError, "metrics", "'low'")
bad("ReduceLROnPlateau.step()", lambda: optim.ReduceLROnPlateau(opt()).step(None), TypeError, "metrics", "None")
bad("ReduceLROnPlateau.load_state_dict(best nan)", lambda: optim.ReduceLROnPlateau(opt()).load_state_dict(
    dict(optim.ReduceLROnPlateau(opt()).state_dict(), best=NAN)), ValueError, "best", "nan")
bad("ReduceLROnPlateau.load_state_dict(unknown)", lambda: optim.ReduceLROnPlateau(opt()).load_state_dict(
    {"last_epoch": 1, "factor": 0.5}), ValueError, "state", "'factor'")
bad("ReduceLROnPlateau.load_state_dict(counter)", lambda: optim.ReduceLROnPlateau(opt()).load_state_dict(
    dict(optim.ReduceLROnPlateau(opt()).state_dict(), num_bad_epochs=-1)), ValueError, "num_bad_epochs", "-1")
bad("clip_grad_norm_(Tensor)", lambda: optim.clip_grad_norm_(sg.Tensor(X23), 1.0), TypeError, "tuple", "(g,)")
bad("clip_by_global_norm(str gradient)", lambda: optim.clip_by_global_norm(("ab",)), TypeError, "gradient 0",
    "'ab'")
bad("clip_grad_norm_(int gradient)", lambda: optim.clip_grad_norm_((np.arange(3),), 1.0), TypeError, "gradient 0",
    "floating")

# ----- transforms -----

W = sg.Parameter(np.ones(2, np.float32), name="w")


def _one_value_rule():
    double = sg.custom_jvp(lambda x: x * 2)
    double.defjvp(lambda primals, tangents: tangents[0] * 2)
    return double


bad("grad(fn returning None)", lambda: sg.grad(lambda x: None)(np.ones(2, np.float32)), TypeError, "None")
bad("value_and_grad(fn returning str)", lambda: sg.value_and_grad(lambda x: "a")(np.ones(2, np.float32)), TypeError,
    "'a'")
bad("grad(not callable)", lambda: sg.grad(3)(np.ones(2, np.float32)), TypeError, "fn", "3")
bad("grad(position beyond)", lambda: sg.grad(lambda x: x.sum(), 3)(np.ones(2, np.float32)), IndexError, "3")
bad("grad(negative position)", lambda: sg.grad(lambda x: x.sum(), -1)(np.ones(2, np.float32)), ValueError, "-1")
bad("grad(grad_position=())", lambda: sg.grad(lambda x: x.sum(), ())(np.ones(2)), RuntimeError, "grad_position",
    "empty")
bad("grad(grad_position float)", lambda: sg.grad(lambda x: x.sum(), (0, 1.5))(np.ones(2)), TypeError, "1.5", "float")
bad("grad(grad_position bool)", lambda: sg.grad(lambda x: x.sum(), True)(np.ones(2)), TypeError, "True")
bad("value_and_grad(grad_position=())", lambda: sg.value_and_grad(lambda x: x.sum(), ())(np.ones(2)), RuntimeError,
    "grad_position")
bad("jacfwd(grad_position=())", lambda: sg.jacfwd(lambda x: x, ()), RuntimeError, "grad_position")
bad("jacfwd(position beyond)", lambda: sg.jacfwd(lambda x: x, 2)(np.ones(2)), ValueError, "2")
bad("grad(repeated positions)", lambda: sg.grad(lambda x, y: x.sum(), (0, 0))(np.ones(2), np.ones(2)), ValueError,
    "(0, 0)")
bad("grad(no position, no weights)", lambda: sg.grad(lambda x: x.sum(), None)(np.ones(2)), ValueError,
    "grad_position", "weights")
bad("grad(weights not Parameters)", lambda: sg.grad(lambda x: x.sum(), None, weights=[np.ones(2)])(np.ones(2)),
    TypeError, "weights", "ndarray")
bad("grad(has_aux, one output)", lambda: sg.grad(lambda x: x.sum(), has_aux=True)(np.ones(2)), ValueError,
    "has_aux")
bad("vjp(cotangent shape)", lambda: sg.vjp(lambda x: x * 2, np.ones(2))[1](np.ones(3)), ValueError, "(3,)", "(2,)")
bad("jvp(tangent shape)", lambda: sg.jvp(lambda x: x * 2, (np.ones(2),), (np.ones(3),)), ValueError, "(3,)", "(2,)")
bad("jvp(tangent count)", lambda: sg.jvp(lambda x: x * 2, (np.ones(2),), (np.ones(2), np.ones(2))), ValueError,
    "2", "1")
bad("jacobian(position beyond)", lambda: sg.jacobian(lambda x: x * 2, 2)(np.ones(2)), IndexError, "2")
bad("hessian(position beyond)", lambda: sg.hessian(lambda x: (x * x).sum(), 2)(np.ones(2)), IndexError, "2")
bad("check_grad(fn returning None)", lambda: sg.check_grad(lambda x: None, np.ones(2)), TypeError, "None")
bad("GradOperation(get_all=1)", lambda: sg.GradOperation(get_all=1), TypeError, "get_all", "int")
bad("GradOperation(sens_param='yes')", lambda: sg.GradOperation(sens_param="yes"), TypeError, "sens_param", "str")
bad("GradOperation(get_by_list, no weights)", lambda: sg.GradOperation(get_by_list=True)(lambda x: x), ValueError,
    "get_by_list=True", "trainable_params")
bad("GradOperation(not callable)", lambda: sg.GradOperation()(3), TypeError, "fn", "3")
bad("GradOperation(sens count)", lambda: sg.GradOperation(sens_param=True)(lambda x: (x, x))(np.ones(2), np.ones(2)),
    ValueError, "sens", "2", "1")
bad("GradOperation(sens shape)", lambda: sg.GradOperation(sens_param=True)(lambda x: x * 2)(np.ones(2), np.ones(3)),
    ValueError, "(3,)", "(2,)")
bad("get_grad(identifier str)", lambda: sg.get_grad(((0, sg.Tensor([1.0])),), "w"), TypeError, "identifier", "'w'")
bad("get_grad(absent)", lambda: sg.get_grad(((0, sg.Tensor([1.0])),), 3), RuntimeError, "3", "[0]")
bad("get_grad(not a tuple)", lambda: sg.get_grad([1], 0), TypeError, "gradients", "list")
bad("vjp(weights not Parameters)", lambda: sg.vjp(lambda x: x, np.ones(2), weights=[np.ones(2)]), TypeError,
    "weights", "ndarray")
bad("vjp_fn(cotangent count)", lambda: sg.vjp(lambda x: (x, x), np.ones(2))[1](np.ones(2)), ValueError, "2", "1")
bad("jacrev(has_aux=1)", lambda: sg.jacrev(lambda x: x, has_aux=1), TypeError, "has_aux", "int")
bad("jacfwd(grad_position=None)", lambda: sg.jacfwd(lambda x: x, None), ValueError, "grad_position", "None")
bad("jacrev(position beyond)", lambda: sg.jacrev(lambda x: x, 2)(np.ones(2)), ValueError, "2")
bad("jvp(not callable)", lambda: sg.jvp(3, np.ones(2), np.ones(2)), TypeError, "fn", "3")
bad("jvp(tangent structure)", lambda: sg.jvp(lambda d: d["a"], ({"a": np.ones(2), "b": np.ones(2)},),
                                            ({"a": np.ones(2)},)), ValueError, "tangent 0", "2", "1")
bad("jvp(integer tangent of a bool input)", lambda: sg.jvp(lambda x: x, np.array([True]), np.ones(1)), TypeError,
    "bool")
bad("linearize(not callable)", lambda: sg.linearize(3, np.ones(2)), TypeError, "fn", "3")
bad("custom_jvp(not callable)", lambda: sg.custom_jvp(3), TypeError, "fn", "int")
bad("custom_jvp(no rule)", lambda: sg.custom_jvp(lambda x: x)(np.ones(1)), TypeError, "defjvp")
bad("custom_jvp(rule returns one value)", lambda: sg.jvp(_one_value_rule(), np.ones(2), np.ones(2)), ValueError,
    "(primal_out, tangent_out)", "Tensor")
bad("custom_jvp.defjvp(not callable)", lambda: sg.custom_jvp(lambda x: x).defjvp(3), TypeError, "defjvp", "int")
bad("linearize(tangent count)", lambda: sg.linearize(lambda x: x * 2, np.ones(2))[1]((np.ones(2), np.ones(2))),
    ValueError, "1", "2")
bad("vmap(sizes)", lambda: sg.vmap(lambda a, b: a + b)(np.ones(2), np.ones(3)), ValueError, "same length", "[2, 3]")
bad("vmap(in_axes count)", lambda: sg.vmap(lambda a, b: a, in_axes=(0,))(np.ones(2), np.ones(2)), ValueError,
    "in_axes", "1", "2")
bad("vmap(in_axes beyond)", lambda: sg.vmap(lambda a: a, in_axes=3)(np.ones(2)), ValueError, "in_axes", "3")
bad("vmap(nothing mapped)", lambda: sg.vmap(lambda a: a, in_axes=None)(np.ones(2)), ValueError, "in_axes is None")
bad("vmap(not callable)", lambda: sg.vmap(3), TypeError, "fn", "3")
bad("custom_vjp(not callable)", lambda: sg.custom_vjp(3), TypeError, "fn", "int")
bad("custom_vjp(no backward)", lambda: sg.custom_vjp(lambda x: x)(np.ones(1)), TypeError, "defbwd")
bad("TrainOneStepCell(sens=nan)", lambda: nn.TrainOneStepCell(nn.Dense(2, 1), optim.SGD(params((2,)), lr=0.1),
                                                              sens=NAN), ValueError, "sens", "nan")
bad("ForwardValueAndGrad(get_all=1)", lambda: nn.ForwardValueAndGrad(nn.Dense(2, 1), get_all=1), TypeError,
    "get_all", "int")
bad("explain.run(unknown topic)", lambda: __import__("softgrad.explain", fromlist=["run"]).run("nope", out=None),
    ValueError, "topic", "'nope'", "softmax-overflow")
bad("config.debug_nans=1", lambda: setattr(sg.config, "debug_nans", 1), TypeError, "debug_nans", "1")
bad("config.debug_infs='yes'", lambda: setattr(sg.config, "debug_infs", "yes"), TypeError, "debug_infs", "'yes'")
bad("compiled.kernel('C')", lambda: __import__("softgrad.ops.compiled", fromlist=["kernel"]).kernel("C"),
    ValueError, "kernel name must be one of [", "'BT_image'", "'pool_scatter'", "got 'C'")
bad("config.threads=0", lambda: setattr(sg.config, "threads", 0), ValueError, "threads", "int >= 1", "got 0")
bad("config.threads=2.0", lambda: setattr(sg.config, "threads", 2.0), TypeError, "threads", "got 2.0")

S32 = np.zeros((1, 2), np.float32)  # a one-order series for X2
X2 = np.ones(2, np.float32)
bad("jet(not callable)", lambda: sg.jet(3, X2, S32), TypeError, "fn", "3")
bad("jet(primals list)", lambda: sg.jet(lambda x: x, [X2], [S32]), TypeError, "primals", "list")
bad("jet(Tensor and tuple)", lambda: sg.jet(lambda x: x, X2, (S32,)), TypeError, "series", "ndarray", "tuple")
bad("jet(primal a float)", lambda: sg.jet(lambda x: x, (1.0,), (S32,)), TypeError, "primals[0]", "float", "1.0")
bad("jet(dtypes differ)", lambda: sg.jet(lambda x: x, X2, S32.astype(np.float64)), TypeError, "series", "float64",
    "float32")
bad("jet(int16)", lambda: sg.jet(lambda x: x, X2.astype(np.int16), S32.astype(np.int16)), TypeError, "primals",
    "int16")
bad("jet(series shape)", lambda: sg.jet(lambda x: x, X2, np.ones((2, 3), np.float32)), ValueError, "series",
    "(2,)", "(2, 3)")
bad("jet(series count)", lambda: sg.jet(lambda x, y: x, (X2, X2), (S32,)), ValueError, "2", "1")
bad("jet(empty primals)", lambda: sg.jet(lambda: 1.0, (), ()), ValueError, "primals", "empty")
bad("jet(no order)", lambda: sg.jet(lambda x: x, X2, np.ones((0, 2), np.float32)), ValueError, "series",
    "(0, 2)")
bad("jet(orders differ)", lambda: sg.jet(lambda x, y: x, (X2, X2), (S32, np.ones((3, 2), np.float32))),
    ValueError, "orders", "[1, 3]")
bad("jet(fn returning None)", lambda: sg.jet(lambda x: None, X2, S32), TypeError, "None")
bad("derivative(not callable)", lambda: sg.derivative(3, X2, 1), TypeError, "fn", "3")
bad("derivative(order 1.5)", lambda: sg.derivative(lambda x: x, X2, 1.5), TypeError, "order", "1.5")
bad("derivative(order True)", lambda: sg.derivative(lambda x: x, X2, True), TypeError, "order", "bool")
bad("derivative(order Tensor)", lambda: sg.derivative(lambda x: x, X2, sg.Tensor(2.0)), TypeError, "order",
    "Tensor")
bad("derivative(order 0)", lambda: sg.derivative(lambda x: x, X2, 0), ValueError, "order", "0")
bad("derivative(primals list)", lambda: sg.derivative(lambda x: x, [X2], 1), TypeError, "primals", "list")
bad("derivative(int16)", lambda: sg.derivative(lambda x: x, (X2.astype(np.int16),), 1), TypeError, "primals[0]",
    "int16")

# ----- data -----

bad("DataLoader(str)", lambda: DataLoader("abcdef", 2), TypeError, "dataset_or_arrays", "'abcdef'")
bad("DataLoader(None)", lambda: DataLoader(None, 2), TypeError, "dataset_or_arrays", "None")
bad("DataLoader(int)", lambda: DataLoader(5, 2), TypeError, "dataset_or_arrays", "5")
bad("DataLoader(dict)", lambda: DataLoader({"x": np.ones(3)}, 2), TypeError, "dataset_or_arrays", "dict")
bad("DataLoader(str arrays)", lambda: DataLoader((np.array(["a", "b"]),), 1), TypeError, "arrays[0]", "<U1")
for _value in (0, -1, 1.5, True, "2", None):
    bad(f"DataLoader(batch_size={_value!r})", lambda v=_value: DataLoader(np.ones(4), v), ValueError, "batch_size",
        repr(_value))
for _value in (-1, 1.5, "0", True):
    bad(f"DataLoader(seed={_value!r})", lambda v=_value: DataLoader(np.ones(4), 2, seed=v), ValueError, "seed",
        repr(_value))
bad("DataLoader(shuffle='yes')", lambda: DataLoader(np.ones(4), 2, shuffle="yes"), TypeError, "shuffle", "'yes'")
bad("DataLoader(drop_last=1)", lambda: DataLoader(np.ones(4), 2, drop_last=1), TypeError, "drop_last", "1")
bad("DataLoader(num_shards alone)", lambda: DataLoader(np.ones(4), 2, num_shards=2), ValueError, "shard_id", "None")
bad("DataLoader(shard_id=num_shards)", lambda: DataLoader(np.ones(4), 2, num_shards=2, shard_id=2), ValueError,
    "shard_id", "shard_id=2")
bad("DataLoader(num_shards=1.5)", lambda: DataLoader(np.ones(4), 2, num_shards=1.5, shard_id=0), ValueError,
    "num_shards", "1.5")
bad("DistributedGradReducer(arrays)", lambda: sg.nn.DistributedGradReducer([np.ones(2)]), TypeError, "parameters[0]",
    "ndarray")
bad("DistributedGradReducer(mean='yes')", lambda: sg.nn.DistributedGradReducer([], mean="yes"), TypeError, "mean",
    "'yes'")
bad("DataLoader.set_epoch(-1)", lambda: DataLoader(np.ones(4), 2).set_epoch(-1), ValueError, "epoch", "-1")
bad("DataLoader.set_epoch(1.5)", lambda: DataLoader(np.ones(4), 2).set_epoch(1.5), ValueError, "epoch", "1.5")
bad("ArrayDataset()", lambda: ArrayDataset(), ValueError, "ArrayDataset", "none")
bad("ArrayDataset(lengths)", lambda: ArrayDataset(np.ones(3), np.ones(4)), ValueError, "arrays[0] has 3",
    "arrays[1] has 4")
bad("ArrayDataset(scalar)", lambda: ArrayDataset(np.float64(1.0)), ValueError, "arrays[0]", "0-d")
bad("ArrayDataset(None)", lambda: ArrayDataset(None), TypeError, "arrays[0]", "None")

# ----- information measures -----

bad("entropy([1, 1])", lambda: info.entropy([1.0, 1.0]), ValueError, "p", "sum of 2.0")
bad("entropy(rows)", lambda: info.entropy(np.array([[0.5, 0.5], [0.5, 0.6]])), ValueError, "p", "1.1", "(1,)")
bad("entropy(negative)", lambda: info.entropy([-0.5, 1.5]), ValueError, "p", "-0.5")
bad("entropy(nan)", lambda: info.entropy([NAN, 1.0]), ValueError, "p", "nan")
bad("entropy(str)", lambda: info.entropy("abc"), TypeError, "p", "'abc'")
bad("entropy(base=1)", lambda: info.entropy(P3, base=1), ValueError, "base", "1")
bad("entropy(base=-2)", lambda: info.entropy(P3, base=-2), ValueError, "base", "-2")
bad("entropy(axis=5)", lambda: info.entropy(P3, axis=5), ValueError, "axis", "5")
bad("cross_entropy_between(q sum)", lambda: info.cross_entropy_between(P3, [0.5, 0.5, 0.5]), ValueError, "q",
    "sum of 1.5")
bad("cross_entropy_between(q negative)", lambda: info.cross_entropy_between(P3, [1.5, -0.5, 0.0]), ValueError, "q",
    "-0.5")
bad("kl_divergence(p sum)", lambda: info.kl_divergence([0.1, 0.1, 0.1], P3), ValueError, "p", "sum of")
bad("kl_divergence(q None)", lambda: info.kl_divergence(P3, None), TypeError, "q", "None")
bad("binary_entropy(1.5)", lambda: info.binary_entropy([1.5]), ValueError, "p", "1.5")
bad("binary_entropy(nan)", lambda: info.binary_entropy([NAN]), ValueError, "p", "nan")
bad("binary_entropy(str)", lambda: info.binary_entropy("a"), TypeError, "p", "'a'")

# ----- random -----

bad("Generator(-1)", lambda: sg.random.Generator(-1), ValueError, "seed", "-1")
bad("Generator(1.5)", lambda: sg.random.Generator(1.5), TypeError, "seed", "1.5")
bad("Generator('a')", lambda: sg.random.Generator("a"), TypeError, "seed", "'a'")
bad("Generator.normal(shape)", lambda: sg.random.Generator(0).normal((-1,)), ValueError, "negative")
bad("set_seed(-1)", lambda: sg.random.set_seed(-1), ValueError, "seed", "-1")
bad("set_seed(None)", lambda: sg.random.set_seed(None), TypeError, "seed", "None")
bad("randn(-1)", lambda: sg.random.randn(-1), ValueError, "size", "-1")
bad("rand('a')", lambda: sg.random.rand("a"), ValueError, "size", "'a'")
bad("randint(high<=low)", lambda: sg.random.randint(3, 3, (2,)), ValueError, "high", "3")
bad("randint(low=1.5)", lambda: sg.random.randint(1.5, 3, (2,)), TypeError, "low", "1.5")

# ----- issue #16: pooling, normalisation, embedding, dropout, attention, rearranging ops -----

X44 = np.ones((1, 2, 4, 4))
bad("avg_pool2d(x 3-d)", lambda: ops.avg_pool2d(np.ones((1, 6, 6)), 2), ValueError, "(1, 6, 6)")
bad("avg_pool2d(kernel=0)", lambda: ops.avg_pool2d(X44, 0), ValueError, "kernel_size", "0")
bad("avg_pool2d(padding>half)", lambda: ops.avg_pool2d(X44, 2, padding=2), ValueError, "padding", "half")
bad("avg_pool2d(ceil_mode=str)", lambda: ops.avg_pool2d(X44, 2, ceil_mode="no"), TypeError, "ceil_mode", "'no'")
bad("avg_pool2d(ceil_mode, kernel too big)", lambda: ops.avg_pool2d(X44, (2, 9), stride=1, ceil_mode=True),
    ValueError, "(2, 9)", "(4, 4)")
bad("avg_pool2d(divisor_override=0)", lambda: ops.avg_pool2d(X44, 2, divisor_override=0), ValueError,
    "divisor_override", "0")
bad("adaptive_avg_pool2d(0)", lambda: ops.adaptive_avg_pool2d(X44, 0), ValueError, "output_size", "0")
bad("adaptive_avg_pool2d(x 2-d)", lambda: ops.adaptive_avg_pool2d(np.ones((4, 4)), 2), ValueError, "(4, 4)")
bad("layer_norm(shape)", lambda: ops.layer_norm(X23, (2,)), ValueError, "normalized_shape", "(2, 3)")
bad("layer_norm(weight shape)", lambda: ops.layer_norm(X23, (3,), np.ones(2)), ValueError, "weight", "(2,)")
bad("layer_norm(eps=str)", lambda: ops.layer_norm(X23, (3,), eps="1"), TypeError, "eps", "'1'")
bad("batch_norm(no running, eval)", lambda: ops.batch_norm(X23, None, None), ValueError, "running_mean",
    "training")
bad("batch_norm(running shape)", lambda: ops.batch_norm(X23, np.zeros(2), np.ones(3)), ValueError,
    "running_mean", "(3,)")
bad("batch_norm(x 1-d)", lambda: ops.batch_norm(np.ones(3), None, None, training=True), ValueError, "(3,)")
bad("embedding(float indices)", lambda: ops.embedding(np.array([0.5]), X23), TypeError, "input", "float64")
bad("embedding(index out of range)", lambda: ops.embedding(np.array([2]), X23), IndexError, "[0, 2)", "2")
bad("embedding(padding_idx)", lambda: ops.embedding(np.array([0]), X23, padding_idx=5), ValueError,
    "padding_idx", "5")
bad("dropout(p=1.5)", lambda: ops.dropout(X23, 1.5), ValueError, "p", "1.5")
bad("dropout(p=nan)", lambda: ops.dropout(X23, NAN), ValueError, "p", "nan")
bad("dropout2d(x 2-d)", lambda: ops.dropout2d(X23, 0.5), ValueError, "(2, 3)")
bad("scaled_dot_product_attention(shapes)", lambda: ops.scaled_dot_product_attention(X23, np.ones((2, 4)), X23),
    ValueError, "(2, 3)", "(2, 4)")
bad("scaled_dot_product_attention(mask and causal)", lambda: ops.scaled_dot_product_attention(
    X23, X23, X23, attn_mask=np.ones((2, 2), bool), is_causal=True), ValueError, "attn_mask", "is_causal")
bad("pad(odd)", lambda: ops.pad(X23, (1,)), ValueError, "padding", "(1,)")
bad("pad(too many)", lambda: ops.pad(X23, (1, 1, 1, 1, 1, 1)), ValueError, "padding", "(2, 3)")
bad("pad(mode)", lambda: ops.pad(X23, (1, 1), mode="wrap"), ValueError, "mode", "'wrap'")
bad("pad(reflect too wide)", lambda: ops.pad(X23, (3, 3), mode="reflect"), ValueError, "reflect", "(3, 3)")
bad("pad(float widths)", lambda: ops.pad(X23, (1.5, 1)), TypeError, "padding", "1.5")
bad("flip(dims out of range)", lambda: ops.flip(X23, 2), ValueError, "dims", "2")
bad("roll(lengths)", lambda: ops.roll(X23, (1, 2), (0,)), ValueError, "shifts", "dims")
bad("cumsum(axis out of range)", lambda: ops.cumsum(X23, 2), ValueError, "axis=2", "[-2, 1]")
bad("cumsum(axis None)", lambda: ops.cumsum(X23, None), TypeError, "axis", "None")
bad("cumsum(0-d)", lambda: ops.cumsum(np.float32(1.0), 0), ValueError, "cumsum", "0-d")
bad("cumprod(axis float)", lambda: ops.cumprod(X23, 1.0), TypeError, "axis", "1.0")
bad("tril(vector)", lambda: ops.tril(np.ones(3)), ValueError, "x", "(3,)")
bad("triu(diagonal float)", lambda: ops.triu(X23, 0.5), TypeError, "diagonal", "0.5")
bad("diag(3-d)", lambda: ops.diag(np.ones((2, 2, 2))), ValueError, "x", "(2, 2, 2)")
bad("diag(diagonal bool)", lambda: ops.diag(X23, True), TypeError, "diagonal", "True")
bad("trace(vector)", lambda: ops.trace(np.ones(3)), ValueError, "x", "(3,)")
bad("sort(descending not bool)", lambda: ops.sort(X23, descending=1), TypeError, "descending", "1")
bad("argsort(axis out of range)", lambda: ops.argsort(X23, 5), ValueError, "axis=5", "[-2, 1]")
bad("topk(k too large)", lambda: ops.topk(X23, 4), ValueError, "k", "[0, 3]", "4")
bad("topk(k negative)", lambda: ops.topk(X23, -1), ValueError, "k", "-1")
bad("topk(largest not bool)", lambda: ops.topk(X23, 1, largest="yes"), TypeError, "largest", "'yes'")
bad("topk(sorted not bool)", lambda: ops.topk(X23, 1, sorted=None), TypeError, "sorted", "None")
bad("sort(0-d)", lambda: ops.sort(np.float32(1.0)), ValueError, "sort", "0-d")
bad("norm(vector ord string)", lambda: ops.norm(np.ones(3), "fro"), ValueError, "ord", "'fro'")
bad("norm(vector ord nan)", lambda: ops.norm(X23, NAN, 1), ValueError, "ord", "nan")
bad("norm(matrix ord)", lambda: ops.norm(X23, 3, (0, 1)), ValueError, "ord", "3")
bad("norm(nuclear of a vector)", lambda: ops.norm(np.ones(3), "nuc"), ValueError, "ord", "'nuc'")
bad("norm(3-d with ord)", lambda: ops.norm(np.ones((2, 2, 2)), 2), ValueError, "dim", "3")
bad("norm(dim three ints)", lambda: ops.norm(X23, None, (0, 1, 2)), ValueError, "dim", "(0, 1, 2)")
bad("norm(dim same axis)", lambda: ops.norm(X23, None, (1, -1)), ValueError, "dim", "(1, -1)")
bad("norm(dim out of range)", lambda: ops.norm(X23, None, 2), ValueError, "axis", "2")
bad("einsum(operand count)", lambda: ops.einsum("ij,jk->ik", X23), ValueError, "2 operand", "1")
bad("einsum(sizes)", lambda: ops.einsum("ij,jk->ik", X23, X23), ValueError, "'j'", "[2, 3]")
bad("einsum(rank)", lambda: ops.einsum("i->i", X23), ValueError, "'i'", "(2, 3)")
bad("einsum(unknown output)", lambda: ops.einsum("ij->k", X23), ValueError, "output", "'ij->k'")
bad("einsum(not letters)", lambda: ops.einsum("i1->i", X23), ValueError, "letters", "'i1->i'")
bad("einsum(equation not str)", lambda: ops.einsum(3, X23), TypeError, "equation", "3")
bad("scatter_add(index out of range)", lambda: ops.scatter_add(X23, 1, np.array([[3]]), X23), IndexError,
    "index", "[0, 3)", "3")
bad("scatter_add(index bigger than src)", lambda: ops.scatter_add(X23, 0, np.zeros((3, 3), int), X23), ValueError,
    "index", "(3, 3)", "(2, 3)")
bad("scatter_add(float index)", lambda: ops.scatter_add(X23, 0, X23, X23), TypeError, "index", "float32")
bad("index_add(shapes)", lambda: ops.index_add(X23, np.array([0]), X23, 0), ValueError, "y", "(2, 3)", "(1,)")
bad("index_add(negative index)", lambda: ops.index_add(X23, np.array([-1, 0]), X23, 0), IndexError, "indices",
    "[0, 2)", "-1")
bad("index_add(axis)", lambda: ops.index_add(X23, np.array([0]), X23, 2), ValueError, "axis", "2")
bad("inv(not square)", lambda: ops.inv(X23), ValueError, "A", "square", "(2, 3)")
bad("det(vector)", lambda: ops.det(np.ones(3)), ValueError, "A", "(3,)")
bad("slogdet(not square)", lambda: ops.slogdet(X23), ValueError, "A", "(2, 3)")
bad("solve(rows)", lambda: ops.solve(np.eye(2), np.ones(3)), ValueError, "B", "(3,)")
bad("solve(batch)", lambda: ops.solve(np.eye(2), np.ones((3, 2, 2, 1))), ValueError, "B", "(3, 2, 2, 1)")
bad("cholesky(not square)", lambda: ops.cholesky(X23), ValueError, "A", "square", "(2, 3)")
bad("cholesky(not positive definite)", lambda: ops.cholesky(np.array([[1.0, 2.0], [2.0, 1.0]])),
    np.linalg.LinAlgError, "A", "positive definite")
bad("cholesky(batch, one not definite)", lambda: ops.cholesky(np.stack([np.eye(2), -np.eye(2)])),
    np.linalg.LinAlgError, "A[1]", "positive definite")
bad("cholesky(upper=1)", lambda: ops.cholesky(np.eye(2), upper=1), TypeError, "upper", "1")
bad("qr(vector)", lambda: ops.qr(np.ones(3)), ValueError, "A", "(3,)")
bad("qr(mode)", lambda: ops.qr(X23, mode="full"), ValueError, "mode", "'full'", "'complete'")
bad("qr(complete, traced)", lambda: sg.grad(lambda A: ops.qr(A, mode="complete")[1].sum())(X23.T), ValueError,
    "mode='complete'", "3 × 2", "mode='reduced'")
bad("linalg.svd(vector)", lambda: ops.linalg.svd(np.ones(3)), ValueError, "A", "(3,)")
bad("linalg.svd(full_matrices=None)", lambda: ops.linalg.svd(X23, full_matrices=None), TypeError,
    "full_matrices", "None")
bad("linalg.svdvals(scalar)", lambda: ops.linalg.svdvals(np.float32(1)), ValueError, "A", "()")
bad("linalg.matrix_norm(vector ord)", lambda: ops.linalg.matrix_norm(X23, ord=3), ValueError, "ord", "3")
bad("linalg.matrix_norm(dim)", lambda: ops.linalg.matrix_norm(X23, dim=1), ValueError, "dim", "1")
bad("tile(negative)", lambda: ops.tile(X23, (-1,)), ValueError, "dims", "-1")
bad("repeat(counts)", lambda: ops.repeat(X23, [1, 2], axis=1), ValueError, "repeats", "[1, 2]")
bad("repeat_interleave(dim)", lambda: ops.repeat_interleave(X23, 2, dim=3), ValueError, "axis", "3")
bad("cat(shapes)", lambda: ops.cat([X23, np.ones((2, 2))], dim=0), ValueError, "shapes", "(2, 2)")
bad("clamp(no bounds)", lambda: ops.clamp(X23), ValueError, "lower", "upper")
bad("masked_fill(float mask)", lambda: ops.masked_fill(X23, X23, 0.0), TypeError, "mask", "float32")
bad("AvgPool2d(kernel=0)", lambda: nn.AvgPool2d(0), ValueError, "kernel_size", "0")
bad("AvgPool2d(padding without pad_mode)", lambda: nn.AvgPool2d(2, padding=1), ValueError, "pad_mode", "1")
bad("AvgPool2d(ceil_mode=1)", lambda: nn.AvgPool2d(2, ceil_mode=1), TypeError, "ceil_mode", "1")
bad("AdaptiveAvgPool2d((2, 0))", lambda: nn.AdaptiveAvgPool2d((2, 0)), ValueError, "output_size", "(2, 0)")
bad("BatchNorm2d(0)", lambda: nn.BatchNorm2d(0), ValueError, "num_features", "0")
bad("BatchNorm2d()(x 2-d)", lambda: nn.BatchNorm2d(3)(X23), ValueError, "(N, 3, H, W)", "(2, 3)")
bad("BatchNorm2d(data_format)", lambda: nn.BatchNorm2d(3, data_format="NHWC"), NotImplementedError,
    "data_format", "'NHWC'")
bad("LayerNorm('a')", lambda: nn.LayerNorm("a"), TypeError, "normalized_shape", "'a'")
bad("LayerNorm(0)", lambda: nn.LayerNorm(0), ValueError, "normalized_shape", "0")
bad("LayerNorm(eps=0)", lambda: nn.LayerNorm(3, eps=0.0), ValueError, "eps", "0.0")
bad("LayerNorm(begin_norm_axis)", lambda: nn.LayerNorm((3,), begin_norm_axis=0)(X23), ValueError,
    "begin_norm_axis", "(2, 3)")
bad("LayerNorm()(shape)", lambda: nn.LayerNorm(4)(X23), ValueError, "normalized_shape", "(2, 3)")
bad("Embedding(0, 2)", lambda: nn.Embedding(0, 2), ValueError, "vocab_size", "0")
bad("Embedding(padding_idx)", lambda: nn.Embedding(3, 2, padding_idx=3), ValueError, "padding_idx", "3")
bad("Embedding(use_one_hot='y')", lambda: nn.Embedding(3, 2, use_one_hot="y"), TypeError, "use_one_hot", "'y'")
bad("Dropout2d(p=1)", lambda: nn.Dropout2d(p=1.0), ValueError, "p", "1.0")
bad("GELU(approximate='x')", lambda: nn.GELU(approximate="x"), ValueError, "approximate", "'x'")
bad("LeakyReLU(alpha='a')", lambda: nn.LeakyReLU("a"), TypeError, "alpha", "'a'")
bad("ELU(alpha=nan)", lambda: nn.ELU(NAN), TypeError, "alpha", "nan")
bad("Softplus(beta=None)", lambda: nn.Softplus(beta=None), TypeError, "beta", "None")
bad("Conv2d(bias=True)", lambda: nn.Conv2d(1, 2, 3, bias=True), TypeError, "bias", "pad_mode='pad'")
bad("Conv2d(padding, same)", lambda: nn.Conv2d(1, 2, 3, padding=1), ValueError, "pad_mode='pad'",
    "has_bias=True")
F = nn.functional
bad("F.conv2d(dilation=0)", lambda: F.conv2d(X4, np.ones((2, 1, 3, 3)), dilation=0), ValueError, "dilation", "0")
bad("F.conv2d(dilation too wide)", lambda: F.conv2d(X4, np.ones((2, 1, 3, 3)), dilation=9), ValueError,
    "dilation (9, 9)", "does not fit")
bad("F.conv2d(groups=0)", lambda: F.conv2d(X4, np.ones((2, 1, 3, 3)), groups=0), ValueError, "groups", "0")
bad("F.conv2d(groups=1.5)", lambda: F.conv2d(X4, np.ones((2, 1, 3, 3)), groups=1.5), ValueError, "groups", "1.5")
bad("F.conv2d(groups not dividing)", lambda: F.conv2d(np.ones((1, 4, 5, 5)), np.ones((3, 2, 3, 3)), groups=2),
    ValueError, "groups=2", "output channels (3)")
bad("F.conv2d(groups, weight channels)", lambda: F.conv2d(np.ones((1, 4, 5, 5)), np.ones((2, 1, 3, 3)), groups=2),
    ValueError, "4 channels", "groups=2")
bad("F.conv2d(padding='full')", lambda: F.conv2d(X4, np.ones((2, 1, 3, 3)), padding="full"), ValueError,
    "padding", "'full'")
bad("F.max_pool2d(dilation=0)", lambda: F.max_pool2d(X4, 2, dilation=0), ValueError, "dilation", "0")
bad("F.max_pool2d(return_indices=str)", lambda: F.max_pool2d(X4, 2, return_indices="yes"), TypeError,
    "return_indices", "'yes'")
bad("F.avg_pool2d(ceil_mode=None)", lambda: F.avg_pool2d(X4, 2, ceil_mode=None), TypeError, "ceil_mode", "None")
bad("F.softmax(no dim)", lambda: F.softmax(X23), TypeError, "dim")
bad("F.one_hot(num_classes=1.5)", lambda: F.one_hot(Y3, 1.5), TypeError, "num_classes", "1.5")
bad("F.embedding(max_norm)", lambda: F.embedding(Y3, np.ones((3, 2)), max_norm=1.0), NotImplementedError,
    "max_norm")


# ----- linear_model estimators -----

lm = sg.linear_model
_XL, _YL = np.arange(12.0).reshape(6, 2), np.array([0, 1, 0, 1, 0, 1])
bad("LinearRegression.fit(nan)", lambda: lm.LinearRegression().fit(np.array([[1.0], [NAN]]), [1.0, 2.0]),
    ValueError, "X", "NaN", "X[1, 0]")
bad("Ridge.fit(inf)", lambda: lm.Ridge().fit(np.array([[1.0], [INF]]), [1.0, 2.0]), ValueError, "X", "inf")
bad("Lasso.fit(y nan)", lambda: lm.Lasso().fit(_XL, [1.0, NAN, 0, 0, 0, 0]), ValueError, "y", "NaN")
bad("Ridge.fit(lengths)", lambda: lm.Ridge().fit(_XL, [1.0, 2.0]), ValueError, "X has 6", "y has 2")
bad("Ridge.fit(1-d X)", lambda: lm.Ridge().fit(np.ones(3), np.ones(3)), ValueError, "X", "2-D", "(3,)")
bad("Ridge.fit(str X)", lambda: lm.Ridge().fit([["abc"]], [1.0]), ValueError, "X must hold numbers", "'abc'")
bad("Ridge(alpha=-1)", lambda: lm.Ridge(alpha=-1.0).fit(_XL, _YL), ValueError, "alpha", "[0.0", "-1.0")
bad("Lasso(alpha=nan)", lambda: lm.Lasso(alpha=NAN).fit(_XL, _YL), ValueError, "alpha", "nan")
bad("Lasso(alpha='a')", lambda: lm.Lasso(alpha="a").fit(_XL, _YL), TypeError, "alpha", "'a'")
bad("ElasticNet(l1_ratio=2)", lambda: lm.ElasticNet(l1_ratio=2.0).fit(_XL, _YL), ValueError, "l1_ratio", "1.0]",
    "2.0")
bad("Lasso(tol=-1)", lambda: lm.Lasso(tol=-1.0).fit(_XL, _YL), ValueError, "tol", "-1.0")
bad("Lasso(max_iter=0)", lambda: lm.Lasso(max_iter=0).fit(_XL, _YL), ValueError, "max_iter", "≥ 1", "0")
bad("Ridge(fit_intercept='yes')", lambda: lm.Ridge(fit_intercept="yes").fit(_XL, _YL), TypeError, "fit_intercept",
    "'yes'")
bad("PolynomialRegression(degree=0)", lambda: lm.PolynomialRegression(degree=0).fit(_XL, _YL), ValueError, "degree",
    "0")
bad("Ridge.predict(features)", lambda: lm.Ridge().fit(_XL, _YL).predict(np.ones((2, 3))), ValueError,
    "X has 3 features", "expecting 2")
bad("Ridge.predict(unfitted)", lambda: lm.Ridge().predict(_XL), lm.NotFittedError, "Ridge", "not fitted")
bad("Ridge.set_params(beta)", lambda: lm.Ridge().set_params(beta=1.0), ValueError, "'beta'", "alpha")
bad("LogisticRegression.fit(one class)", lambda: lm.LogisticRegression().fit(_XL, np.zeros(6)), ValueError,
    "at least 2 classes", "1 class", "[0.0]")
bad("LogisticRegression.fit(continuous y)", lambda: lm.LogisticRegression().fit(_XL, np.linspace(0, 1, 6)),
    ValueError, "Unknown label type", "continuous", "0.2")
bad("LogisticRegression(penalty='l3')", lambda: lm.LogisticRegression("l3").fit(_XL, _YL), ValueError, "penalty",
    "'elasticnet'", "'l3'")
bad("LogisticRegression(C=0)", lambda: lm.LogisticRegression(C=0.0).fit(_XL, _YL), ValueError, "C", "(0.0", "0.0")
bad("LogisticRegression(C=-1)", lambda: lm.LogisticRegression(C=-1.0).fit(_XL, _YL), ValueError, "C", "-1.0")
bad("LogisticRegression(l1_ratio=-0.5)", lambda: lm.LogisticRegression(l1_ratio=-0.5).fit(_XL, _YL), ValueError,
    "l1_ratio", "-0.5")
bad("LogisticRegression(elasticnet, None)", lambda: lm.LogisticRegression("elasticnet", l1_ratio=None).fit(_XL, _YL),
    ValueError, "l1_ratio", "elasticnet", "None")
bad("LogisticRegression.fit(complex)", lambda: lm.LogisticRegression().fit(_XL + 1j, _YL), ValueError, "X",
    "Complex", "complex128")
bad("StepwiseRegression(direction='both')", lambda: lm.StepwiseRegression(direction="both").fit(_XL, _YL),
    ValueError, "direction", "'forward'", "'both'")
bad("StepwiseRegression(criterion='r2')", lambda: lm.StepwiseRegression(criterion="r2").fit(_XL, _YL), ValueError,
    "criterion", "'aic'", "'r2'")
bad("regularization_path(LinearRegression)", lambda: lm.regularization_path(lm.LinearRegression(), _XL, _YL, [1.0]),
    ValueError, "estimator", "alpha", "LinearRegression()")
# ----- saving and containers -----

DENSE = sg.nn.Dense(3, 2)
bad("save_checkpoint(int)", lambda: sg.save_checkpoint(3, "x.safetensors"), TypeError, "save_obj", "int 3")
bad("save_checkpoint(file 3)", lambda: sg.save_checkpoint(DENSE, 3), TypeError, "ckpt_file_name", "int 3")
bad("save_checkpoint(unnamed)", lambda: sg.save_checkpoint([sg.Parameter(X23)], "x.safetensors"), ValueError,
    "save_obj[0]", "name=None", "name='w'")
bad("save_checkpoint(choice_func=1)", lambda: sg.save_checkpoint(DENSE, "x", choice_func=1), TypeError, "choice_func",
    "int 1")
bad("load_checkpoint(None)", lambda: sg.load_checkpoint(None), TypeError, "ckpt_file_name", "None")
bad("load_checkpoint(missing)", lambda: sg.load_checkpoint("/nonexistent.safetensors"), FileNotFoundError,
    "/nonexistent.safetensors")
bad("load_checkpoint(net=str)", lambda: sg.load_checkpoint("x", net="net"), TypeError, "net", "'net'")
bad("load_param_into_net(dict)", lambda: sg.load_param_into_net({}, {}), TypeError, "net", "dict")
bad("load_param_into_net(list)", lambda: sg.load_param_into_net(DENSE, [1]), TypeError, "parameter_dict", "list")
bad("load_param_into_net(strict_load='yes')", lambda: sg.load_param_into_net(DENSE, {}, strict_load="yes"),
    TypeError, "strict_load", "'yes'")
bad("load_param_into_net(strict)", lambda: sg.load_param_into_net(DENSE, {}, strict_load=True), ValueError,
    "missing ['weight', 'bias']", "strict_load=False")
bad("load_state_dict(shape)", lambda: DENSE.load_state_dict({"weight": X23.T, "bias": np.ones(2, np.float32)}),
    ValueError, "'weight'", "(3, 2)", "(2, 3)")
bad("load_state_dict(dtype)", lambda: DENSE.load_state_dict({"weight": np.ones((2, 3)), "bias": np.ones(2)}),
    ValueError, "'weight'", "float64", "float32", "astype")
bad("load_state_dict(str values)", lambda: DENSE.load_state_dict({"weight": "w", "bias": "b"}), TypeError,
    "'weight'", "'w'")
bad("load_state_dict(unexpected)", lambda: DENSE.load_state_dict({**DENSE.state_dict(), "w2": X23}), ValueError,
    "unexpected ['w2']", "strict=False")
bad("CellList(item)", lambda: sg.nn.CellList([sg.nn.ReLU(), 3]), TypeError, "cells[1]", "int 3")
bad("CellList(cell)", lambda: sg.nn.CellList(sg.nn.ReLU()), TypeError, "iterable", "append")
bad("CellList[3]", lambda: sg.nn.CellList([sg.nn.ReLU()])[3], IndexError, "index 3", "1 cells")
bad("CellList['0']", lambda: sg.nn.CellList([sg.nn.ReLU()])["0"], TypeError, "integers or slices", "'0'")
bad("CellList.insert(1.5)", lambda: sg.nn.CellList().insert(1.5, sg.nn.ReLU()), TypeError, "index", "1.5")
bad("CellDict(dotted)", lambda: sg.nn.CellDict({"a.b": sg.nn.ReLU()}), ValueError, "name", "'a.b'", "without '.'")
bad("CellDict(int key)", lambda: sg.nn.CellDict({1: sg.nn.ReLU()}), TypeError, "name", "int 1")
bad("CellDict(str cell)", lambda: sg.nn.CellDict({"a": "relu"}), TypeError, "'a'", "str 'relu'")
bad("CellDict['b']", lambda: sg.nn.CellDict({"a": sg.nn.ReLU()})["b"], KeyError, "'b'", "['a']")
bad("CellDict(5)", lambda: sg.nn.CellDict(5), TypeError, "dict", "int 5")
bad("CellDict([pair])", lambda: sg.nn.CellDict(["ab"]), TypeError, "element 0", "pair", "'ab'")
bad("summary(int)", lambda: sg.nn.summary(3, (1, 3)), TypeError, "cell", "int 3")
bad("summary(shape 0)", lambda: sg.nn.summary(DENSE, (0, 3)), ValueError, "input_shape", "(0, 3)", "(1, 1, 28, 28)")
bad("summary(shape str)", lambda: sg.nn.summary(DENSE, "2,3"), ValueError, "input_shape", "'2,3'")
bad("summary(shape float)", lambda: sg.nn.summary(DENSE, (2, 3.0)), ValueError, "input_shape", "(2, 3.0)")
bad("summary(wrong features)", lambda: sg.nn.summary(DENSE, (2, 4)), ValueError, "3 features", "(2, 4)")
bad("from_dlpack(list)", lambda: sg.from_dlpack([1.0, 2.0]), TypeError, "x", "__dlpack__", "list", "softgrad.tensor")
bad("format(vector, '.2f')", lambda: format(sg.Tensor([1.0, 2.0]), ".2f"), TypeError, "'.2f'", "(2,)", "item()")
bad("Tensor.backward()", lambda: sg.Tensor(1.0).backward(), TypeError, "backward()", "value_and_grad")
bad("Parameter.grad", lambda: sg.Parameter(X23, name="w").grad, AttributeError, ".grad", "value_and_grad")


def _layers_in_a_list():
    net = sg.nn.Cell()
    net.layers = [sg.nn.Dense(2, 2)]
    return net.trainable_params()


bad("Cell(layers in a list)", _layers_in_a_list, TypeError, "'layers'", "plain list", "nn.CellList", "nn.ModuleList")


@pytest.mark.parametrize("call,error,fragments", ROWS)
def test_bad_input_raises_naming_the_argument_and_the_value(call, error, fragments):
    with pytest.raises(error) as raised:
        call()
    message = str(raised.value)
    missing = [fragment for fragment in fragments if fragment not in message]
    assert not missing, f"the message lacks {missing}: {message!r}"


def test_the_table_is_large_and_covers_every_public_op():
    assert len(ROWS) >= 300
    named = " ".join(str(row.id) for row in ROWS)
    uncovered = [name for name in dir(ops) if not name.startswith("_") and callable(getattr(ops, name))
                 and name not in named and name not in ("copy", "stop_gradient", "ones_like", "zeros_like",
                                                         "full_like", "isfinite")]
    assert not uncovered, f"public ops without a bad-input row: {uncovered}"


def test_data_values_propagate_nan_as_numpy_does():
    """The other half of the policy: NaN inside the data is not an error (ops compute as NumPy does)."""
    x = np.array([1.0, NAN], np.float32)
    assert np.isnan(ops.exp(x).numpy()[1]) and np.isnan(ops.softmax(x).numpy()).all()
    assert math.isnan(ops.mse_loss(x, np.zeros(2, np.float32)).item())
    w = sg.Parameter(np.zeros(2, np.float32), name="w")
    optim.SGD([w], lr=0.1)([x])
    assert np.isnan(w.numpy()[1]) and w.numpy()[0] == np.float32(-0.1)
