"""The layers, ops and the global seed of issue #16: every layer's gradient (inputs and Parameters) against
central finite differences through ``check_grad`` in float64; the composed ops' gradients likewise; MindSpore's
defaults and PyTorch's aliases; set_seed; and the PyTorch MNIST port for a few steps (the CI run)."""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

import softgrad as sg
import softgrad.nn.functional as F
from softgrad import nn, ops
from test_layers import check_cell

RNG = np.random.default_rng(16)
NCHW = RNG.standard_normal((2, 3, 5, 4))

LAYERS = [
    ("AvgPool2d", lambda: nn.AvgPool2d(2), NCHW),
    ("AvgPool2d(pad, exclude)", lambda: nn.AvgPool2d(3, 2, pad_mode="pad", padding=1, count_include_pad=False), NCHW),
    ("AvgPool2d(same)", lambda: nn.AvgPool2d(2, 1, pad_mode="same"), NCHW),
    ("AvgPool2d(ceil)", lambda: nn.AvgPool2d(2, ceil_mode=True), NCHW),
    ("AvgPool2d(ceil, pad, exclude)", lambda: nn.AvgPool2d(3, 2, pad_mode="pad", padding=1, ceil_mode=True,
                                                          count_include_pad=False), NCHW),
    ("AvgPool2d(ceil, pad, include)", lambda: nn.AvgPool2d((3, 2), (2, 3), pad_mode="pad", padding=(1, 0),
                                                          ceil_mode=True), NCHW),
    ("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d((2, 3)), NCHW),
    ("BatchNorm2d(train)", lambda: nn.BatchNorm2d(3, dtype=np.float64), NCHW),
    ("BatchNorm2d(eval)", lambda: nn.BatchNorm2d(3, moving_var_init=2.0, dtype=np.float64).set_train(False), NCHW),
    ("LayerNorm", lambda: nn.LayerNorm((5, 4), beta_init="normal", dtype=np.float64), NCHW),
    ("GELU", lambda: nn.GELU(), NCHW),
    ("GELU(none)", lambda: nn.GELU(approximate="none"), NCHW),
    ("LeakyReLU", lambda: nn.LeakyReLU(), NCHW),
    ("ELU", lambda: nn.ELU(0.5), NCHW),
    ("Softplus", lambda: nn.Softplus(2.0, 3.0), NCHW),
    ("LogSigmoid", lambda: nn.LogSigmoid(), NCHW),
]


@pytest.mark.parametrize("make,x", [(m, x) for _, m, x in LAYERS], ids=[name for name, _, _ in LAYERS])
def test_layer_gradients_match_finite_differences(make, x):
    check_cell(make(), x)


def test_embedding_gradient_and_padding_row():
    table = nn.Embedding(5, 3, embedding_table="uniform", dtype=np.float64, padding_idx=1)
    assert not table.embedding_table.numpy()[1].any() and table.weight is table.embedding_table
    indices = np.array([[0, 1, 4], [1, 1, 2]])
    grad = sg.grad(lambda: (table(indices) * np.arange(18.0).reshape(2, 3, 3)).sum(), None,
                   weights=table.embedding_table)()
    assert not grad.numpy()[1].any() and grad.numpy()[3].sum() == 0
    np.testing.assert_allclose(grad.numpy()[0], [0.0, 1.0, 2.0])
    sg.check_grad(lambda w: ops.embedding(indices, w), RNG.standard_normal((5, 3)))  # (padding_idx: no gradient
    # on purpose, PyTorch's rule, so finite differences disagree there)
    one_hot = nn.Embedding(5, 3, use_one_hot=True, embedding_table=table.embedding_table.numpy())
    np.testing.assert_allclose(one_hot(indices).numpy(), table(indices).numpy())


def test_dropout2d_drops_whole_channels_and_is_the_identity_in_eval():
    layer = nn.Dropout2d(0.5, generator=sg.random.Generator(1))
    out = layer(np.ones((8, 16, 3, 3), np.float32)).numpy()
    per_channel = out.reshape(8, 16, 9)
    assert ((per_channel == 0).all(axis=2) | (per_channel == 2).all(axis=2)).all()
    assert 0.3 < (per_channel[..., 0] == 0).mean() < 0.7
    x = np.ones((1, 2, 2, 2))
    assert layer.set_train(False)(x) is x


def test_composed_ops_gradients():
    x = RNG.standard_normal((2, 3, 4))
    sg.check_grad(lambda q, k, v: ops.scaled_dot_product_attention(q, k, v, is_causal=True), x, x + 1, x - 1)
    sg.check_grad(lambda x, w, b: ops.layer_norm(x, (4,), w, b), x, RNG.standard_normal(4), RNG.standard_normal(4))
    sg.check_grad(lambda x: ops.pad(x, (1, 2, 2, 1), mode="circular"), x)
    sg.check_grad(lambda x: ops.roll(ops.flip(ops.repeat(x, 2, 1), 2), (1,), (0,)), x)
    mask = np.tile(x, (1, 2)) > 0
    sg.check_grad(lambda x: ops.masked_fill(ops.tile(x, (1, 2)), mask, 0.5), x)
    sg.check_grad(lambda x: ops.softplus(x, beta=2.0, threshold=1.0), x)


def test_mindspore_defaults_and_pytorch_aliases():
    assert nn.LeakyReLU().params == {"negative_slope": 0.2} and nn.LeakyReLU(negative_slope=0.01).params == {
        "negative_slope": 0.01}
    assert repr(nn.GELU()) == "GELU(approximate='tanh')"
    assert nn.LayerNorm(4).eps == 1e-7 and nn.LayerNorm(4, eps=1e-5).eps == 1e-5
    assert nn.AvgPool2d(2).stride == (2, 2)
    bn = nn.BatchNorm2d(3)
    bn(np.ones((2, 3, 2, 2), np.float32))
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1)  # MindSpore's momentum 0.9: 10 % of the batch's 1
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(ops.cat([x, x], dim=1).numpy(), np.concatenate([x, x], 1))
    np.testing.assert_array_equal(ops.clamp(x, min=0.0).numpy(), np.clip(x, 0, None))
    assert F.one_hot(np.array([0, 2])).dtype == np.int64 and F.one_hot(np.array([0, 2])).shape == (2, 3)


def test_set_seed_fixes_layers_built_without_a_generator_and_the_samplers():
    def draw():
        sg.random.set_seed(123)
        return nn.Dense(3, 2).weight.numpy(), sg.random.randn(2, 2).numpy(), sg.random.randint(0, 9, (4,)).numpy()

    first, second = draw(), draw()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert sg.random.get_seed() == 123 and sg.random.rand((2, 3)).shape == (2, 3)
    assert sg.set_seed is sg.random.set_seed  # mindspore.set_seed's place: the top level


def test_pytorch_mnist_port_trains_for_a_few_steps():
    """The CI run of examples/pytorch_mnist.py: its network on one fixed batch of fake digits; the loss falls."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    try:
        example = importlib.import_module("pytorch_mnist")
    finally:
        sys.path.pop(0)
    sg.random.set_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 16)
    x = (rng.standard_normal((16, 1, 28, 28)) * 0.3 + y[:, None, None, None] / 5).astype(np.float32)
    model = example.Net()
    assert model(x).shape == (16, 10)
    optimizer = sg.optim.Adam(model.trainable_params(), lr=1e-3)
    def eval_loss():
        return float(F.nll_loss(model.set_train(False)(x), y))

    before = eval_loss()
    losses = [example.train_steps(model, optimizer, x, y, batch_size=16, log_every=0)[0] for _ in range(4)]
    assert np.isfinite(losses).all() and eval_loss() < before
    assert 0.0 <= example.accuracy(model, x, y) <= 1.0


def test_the_new_layers_show_their_hyperparameters():
    expected = {
        nn.LayerNorm((4,)): "LayerNorm(normalized_shape=(4,), eps=1e-07)",
        nn.BatchNorm2d(3, momentum=0.8): "BatchNorm2d(num_features=3, eps=1e-05, momentum=0.8, affine=True)",
        nn.AvgPool2d(2): "AvgPool2d(kernel_size=(2, 2), stride=(2, 2), pad_mode='valid', padding=0, "
                         "ceil_mode=False, count_include_pad=True, data_format='NCHW')",
        nn.AdaptiveAvgPool2d(2): "AdaptiveAvgPool2d(output_size=(2, 2))",
        nn.Embedding(10, 3, padding_idx=0): "Embedding(vocab_size=10, embedding_size=3, padding_idx=0)",
        nn.Dropout2d(0.3): "Dropout2d(p=0.3)",
        nn.LeakyReLU(0.1): "LeakyReLU(negative_slope=0.1)",
        nn.ELU(0.5): "ELU(alpha=0.5)",
        nn.Softplus(2.0, 10.0): "Softplus(beta=2.0, threshold=10.0)",
    }
    for cell, text in expected.items():
        assert repr(cell) == text
