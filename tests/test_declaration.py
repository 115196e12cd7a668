"""How ops are declared and how the layers use them: Python data converted once and alike for every op, real
signatures and docstrings, one table of fused dense activations, and ``nn`` built on the public ``ops`` only."""

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import softgrad as sg
from softgrad import nn, ops
from softgrad.autodiff import _vjp_all

SRC = Path(sg.__file__).resolve().parent

# ----- Python data: converted as Tensor(data) converts it, by every op -----

PYTHON_DATA_CALLS = [
    ("transpose", lambda: ops.transpose([[1.0, 2.0]])),
    ("sum", lambda: ops.sum([1.0, 2.0])),
    ("reshape", lambda: ops.reshape([1.0, 2.0], (2, 1))),
    ("broadcast_to", lambda: ops.broadcast_to([1.0], (3,))),
    ("swapaxes", lambda: ops.swapaxes([[1.0, 2.0]], 0, 1)),
    ("expand_dims", lambda: ops.expand_dims([1.0, 2.0], 0)),
    ("getitem", lambda: ops.getitem([1.0, 2.0], 0)),
    ("concat", lambda: ops.concat([[1.0], [2.0]])),
    ("stack", lambda: ops.stack([[1.0], [2.0]])),
    ("split", lambda: ops.split([1.0, 2.0], 2)[0]),
    ("astype of float data", lambda: ops.astype([1.0], np.float32)),
    ("stop_gradient", lambda: ops.stop_gradient([1.0, 2.0])),
    ("matmul", lambda: ops.matmul([[1.0, 2.0]], [[3.0], [4.0]])),
    ("exp", lambda: ops.exp([0.0])),
    ("add", lambda: ops.add([1.0], [2.0])),
    ("clip", lambda: ops.clip([1.0, 3.0], 0.0, 2.0)),
    ("var", lambda: ops.var([1.0, 2.0])),
    ("softmax", lambda: ops.softmax([1.0, 2.0])),
    ("dense", lambda: ops.dense([[1.0, 2.0]], [[1.0, 0.0]])),
    ("mse_loss", lambda: ops.mse_loss([1.0], [2.0])),
    ("entropy", lambda: sg.info.entropy([0.5, 0.5])),
]


@pytest.mark.parametrize("name,call", PYTHON_DATA_CALLS, ids=[c[0] for c in PYTHON_DATA_CALLS])
def test_python_floats_become_float32_in_every_op(name, call):
    out = call()
    assert isinstance(out, sg.Tensor)
    assert out.dtype == np.float32, f"{name} of Python floats gave {out.dtype}; Tensor(data) gives float32"


def test_arrays_keep_their_dtype():
    assert ops.transpose(np.ones((1, 2))).dtype == np.float64
    assert ops.sum(np.ones(2)).dtype == np.float64
    assert ops.concat([np.ones(1), [2.0]]).dtype == np.float64


# ----- every public op: its real signature and a docstring, for help(), editors and type checkers -----

PUBLIC_OPS = sorted(name for name in dir(ops) if not name.startswith("_") and inspect.isfunction(getattr(ops, name)))


@pytest.mark.parametrize("name", PUBLIC_OPS)
def test_public_op_has_its_real_signature_and_a_docstring(name):
    fn = getattr(ops, name)
    parameters = inspect.signature(fn).parameters.values()
    assert not any(p.kind is p.VAR_KEYWORD for p in parameters), f"ops.{name} shows **kwargs"
    assert [p.name for p in parameters][:1] not in (["args"],), f"ops.{name} shows *args"
    assert fn.__doc__ and fn.__doc__.strip(), f"ops.{name} has no docstring"
    assert fn.__name__ == name


def test_help_shows_the_parameters():
    assert str(inspect.signature(ops.cross_entropy)) == ("(logits, target, weight=None, ignore_index=-100, "
                                                         "reduction='mean', label_smoothing=0.0)")
    assert str(inspect.signature(ops.sum)) == "(x, axis=None, keepdims=False)"


# ----- dense: one table of fused activations; nn.Dense goes through ops.dense -----


def test_dense_takes_an_op_or_a_name_and_runs_either_inside_its_primitive():
    x, w, b = np.array([[1.0, -2.0]]), np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([0.5, 0.0])
    for op in (ops.relu, ops.tanh, ops.sigmoid):
        by_name = ops.dense(x, w, b, activation=op.__name__).numpy()
        np.testing.assert_array_equal(ops.dense(x, w, b, activation=op).numpy(), by_name)
        tape = _vjp_all(lambda x: ops.dense(x, w, b, activation=op), [x])[2].tape
        assert [e[0].name for e in tape if e[0] is not None] == ["dense"]
    other = ops.dense(x, w, b, activation=ops.gelu)  # not fusable: applied to the result
    np.testing.assert_array_equal(other.numpy(), ops.gelu(ops.dense(x, w, b)).numpy())
    with pytest.raises(ValueError, match=r"activation must be None or one of .*got 3"):
        ops.dense(x, w, b, activation=3)


def test_activation_cells_carry_their_op():
    assert nn.ReLU.op is ops.relu and nn.Tanh.op is ops.tanh and nn.Sigmoid.op is ops.sigmoid


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield node.module or "", [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []


@pytest.mark.parametrize("path", sorted((SRC / "nn").glob("*.py")), ids=lambda p: p.name)
def test_nn_uses_only_the_public_ops(path):
    """No primitive, no tracing internals, no private helper of ops: nn composes ops as any user would."""
    for module, names in _imports(path):
        assert module != "softgrad.trace", f"{path.name} imports the tracing core"
        if module.startswith("softgrad.ops"):
            private = [n for n in names if n.startswith("_") or n.endswith("_p")]
            assert not private and "._" not in module, f"{path.name} imports {module}: {names}"


# ----- auto_prefix: works as MindSpore's -----


class Wrapper(nn.Cell):
    def __init__(self, net, auto_prefix=True):
        super().__init__(auto_prefix=auto_prefix)
        self.net = net

    def construct(self, x):
        return self.net(x)


def test_auto_prefix_false_keeps_the_inner_names():
    inner = nn.SequentialCell(nn.Dense(2, 3, generator=sg.random.Generator(0)))
    assert [p.name for p in Wrapper(inner, auto_prefix=False).trainable_params()] == ["0.weight", "0.bias"]
    assert [p.name for p in Wrapper(nn.Dense(2, 3)).trainable_params()] == ["net.weight", "net.bias"]


def test_training_wrappers_do_not_rename_the_network_parameters():
    net = nn.SequentialCell(nn.Dense(2, 1, generator=sg.random.Generator(0)))
    step = nn.TrainOneStepCell(nn.WithLossCell(net, ops.mse_loss), sg.optim.SGD(net.trainable_params(), lr=0.1))
    assert [p.name for p in step.trainable_params()] == ["0.weight", "0.bias"]
    assert [p.name for p in net.trainable_params()] == ["0.weight", "0.bias"]
