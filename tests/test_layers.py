"""Layers: shapes, PyTorch-compatible defaults, train/eval behaviour, and every layer's gradient (inputs and
Parameters) against central finite differences in float64 via ``softgrad.check_grad``."""

import math

import numpy as np
import pytest

import softgrad as sg
from softgrad import nn, ops

RNG = np.random.default_rng(0)


def seeded(seed=0):
    return sg.random.Generator(seed)


def as_function(cell):
    """``fn(x, *params)``: the cell with its trainable Parameters replaced by the given values (attribute
    assignment on the owning sub-cell), so ``check_grad`` differentiates inputs and Parameters alike."""
    cells = dict(cell.cells_and_names())
    paths = [path for path, p in cell.parameters_dict().items() if p.requires_grad]
    params = [cell.parameters_dict()[path] for path in paths]

    def fn(x, *values):
        owners = []
        for path, value in zip(paths, values):
            owner_path, _, name = path.rpartition(".")
            owner = cells[owner_path]
            owners.append((owner, name, getattr(owner, name)))
            setattr(owner, name, value)
        try:
            return cell(x)
        finally:
            for owner, name, param in owners:
                setattr(owner, name, param)

    return fn, [p.numpy().astype(np.float64) for p in params]


def check_cell(cell, x):
    fn, params = as_function(cell)
    sg.check_grad(fn, np.asarray(x, dtype=np.float64), *params)


# ----- Dense -----


def test_dense_matches_x_w_transpose_plus_b():
    layer = nn.Dense(4, 3, generator=seeded())
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    expected = x @ layer.weight.numpy().T + layer.bias.numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-6)
    assert layer(x).dtype == np.float32
    assert [p.name for p in layer.trainable_params()] == ["weight", "bias"]


def test_dense_default_init_is_pytorch_linear():
    layer = nn.Dense(400, 300, generator=seeded())
    bound = 1 / math.sqrt(400)
    for p in (layer.weight, layer.bias):
        assert p.dtype == np.float32
        assert abs(p.numpy()).max() <= bound
        assert abs(p.numpy()).max() > 0.95 * bound  # uniform over the whole interval
    assert abs(layer.weight.numpy().std() - bound / math.sqrt(3)) < 0.01 * bound


@pytest.mark.parametrize("name,std", [("he_normal", lambda i, o: math.sqrt(2 / i)),
                                      ("he_uniform", lambda i, o: math.sqrt(2 / i)),
                                      ("xavier_normal", lambda i, o: math.sqrt(2 / (i + o))),
                                      ("XavierUniform", lambda i, o: math.sqrt(2 / (i + o)))])
def test_named_initialisers_have_their_variance(name, std):
    layer = nn.Dense(500, 200, weight_init=name, bias_init="zeros", generator=seeded())
    assert abs(layer.weight.numpy().std() / std(500, 200) - 1) < 0.02
    assert not layer.bias.numpy().any()


def test_same_generator_seed_same_weights():
    a, b = nn.Dense(5, 4, generator=seeded(3)), nn.Dense(5, 4, generator=seeded(3))
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    assert not np.array_equal(a.weight.numpy(), nn.Dense(5, 4, generator=seeded(4)).weight.numpy())


def test_initialisers_accept_values_and_callables():
    w = np.arange(6.0).reshape(2, 3)
    layer = nn.Dense(3, 2, weight_init=w, bias_init=0.5)
    np.testing.assert_array_equal(layer.weight.numpy(), w.astype(np.float32))
    np.testing.assert_array_equal(layer.bias.numpy(), [0.5, 0.5])
    layer = nn.Dense(3, 2, weight_init=lambda shape, rng: np.ones(shape))
    assert (layer.weight.numpy() == 1).all()
    with pytest.raises(ValueError, match="unknown initialiser 'bogus'"):
        nn.Dense(3, 2, weight_init="bogus")
    with pytest.raises(ValueError, match="shape"):
        nn.Dense(3, 2, weight_init=np.zeros((3, 2)))


def test_dense_on_batched_inputs_and_activation():
    layer = nn.Dense(4, 3, activation="relu", generator=seeded())
    x = RNG.standard_normal((2, 5, 4)).astype(np.float32)
    out = layer(x).numpy()
    assert out.shape == (2, 5, 3) and (out >= 0).all()
    with pytest.raises(ValueError, match="last axis has 4 features"):
        layer(np.zeros((2, 5)))


def test_linear_is_dense_with_pytorch_arguments():
    layer = nn.Linear(3, 2, bias=False, generator=seeded())
    assert isinstance(layer, nn.Dense) and [p.name for p in layer.trainable_params()] == ["weight"]


@pytest.mark.parametrize("has_bias,activation", [(True, None), (False, None), (True, "tanh"), (True, "relu"),
                                                 (True, "sigmoid"), (True, nn.ReLU()), (False, ops.softplus)])
def test_dense_gradients(has_bias, activation):
    layer = nn.Dense(4, 3, has_bias=has_bias, activation=activation, generator=seeded(), dtype=np.float64)
    check_cell(layer, RNG.standard_normal((5, 4)))


def test_dense_kernel_gradients_to_second_order():
    x, w, b = RNG.standard_normal((5, 4)), RNG.standard_normal((3, 4)), RNG.standard_normal(3)
    np.testing.assert_allclose(ops.dense(x, w, b).numpy(), x @ w.T + b, rtol=1e-12)
    sg.check_grad(ops.dense, x, w, b)
    sg.check_grad(lambda x, w: ops.dense(x, w), x, w)
    sg.check_grad(lambda x, w, b: sg.grad(lambda x, w, b: (ops.dense(x, w, b) ** 2).sum(), (0, 1, 2))(x, w, b),
                  x, w, b)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_dense_kernel_fused_activation(activation, order):
    """act(x Wᵀ + b) in one primitive: the op's value, first and second derivatives, and a batched Jacobian
    (one sweep) equal to the row-by-row one, for each weight layout."""
    from softgrad.autodiff import _vjp_all

    x, b = RNG.standard_normal((5, 4)), RNG.standard_normal(3)
    w = np.asarray(RNG.standard_normal((3, 4)), order=order)
    act = getattr(ops, activation)
    np.testing.assert_allclose(ops.dense(x, w, b, activation=activation).numpy(), act(x @ w.T + b).numpy(),
                               rtol=1e-14)
    fused = lambda x, w, b: ops.dense(x, w, b, activation=activation)  # noqa: E731
    sg.check_grad(fused, x, w, b)
    sg.check_grad(lambda x, w, b: sg.grad(lambda x, w, b: (fused(x, w, b) ** 2).sum(), (0, 1, 2))(x, w, b),
                  x, w, b)
    for position, value in enumerate((x, w, b)):
        args = [x, w, b]
        assert _vjp_all(lambda v: fused(*args[:position], v, *args[position + 1:]), [value])[2].batchable()
        out, vjp_fn = sg.vjp(lambda v: fused(*args[:position], v, *args[position + 1:]), value)
        eye = np.eye(out.size).reshape((out.size,) + out.shape)
        rows = np.stack([vjp_fn(e)[0].numpy() for e in eye]).reshape(out.shape + value.shape)
        jacobian = sg.jacobian(lambda v: fused(*args[:position], v, *args[position + 1:]))(value)
        np.testing.assert_allclose(jacobian.numpy(), rows, rtol=1e-13, atol=1e-15)
    with pytest.raises(ValueError, match=r"activation must be None or one of \['relu', 'sigmoid', 'tanh'\], "
                                         r"got 'gelu'"):
        ops.dense(x, w, b, activation="gelu")


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_dense_activation_rule_written_into_an_owned_cotangent_gives_the_same_bits(activation):
    """With ``out`` (a cotangent the backward sweep owns) the fused rule writes g·f'(ans) into it: bit for bit
    the op's own rule, for float32, float64 and a batch of cotangents; other dtypes take the op's rule."""
    from softgrad.ops.nn_kernels import _activation_vjp, _dense_impl

    x, w = RNG.standard_normal((6, 4)), RNG.standard_normal((5, 4))
    for dtype in (np.float32, np.float64):
        ans = _dense_impl(x.astype(dtype), w.astype(dtype), None, activation)
        for g in (RNG.standard_normal(ans.shape).astype(dtype), RNG.standard_normal((3,) + ans.shape).astype(dtype)):
            expected = _activation_vjp(g, ans, None, activation)
            out = g.copy()
            result = _activation_vjp(out, ans, out, activation)
            assert result is out
            np.testing.assert_array_equal(result, expected)
            assert result.dtype == expected.dtype
    ans = _dense_impl(x, w, None, activation)
    g32 = RNG.standard_normal(ans.shape).astype(np.float32)
    out = g32.copy()
    result = _activation_vjp(out, ans, out, activation)  # float32 g, float64 ans: the op's rule, not in place
    expected = _activation_vjp(g32, ans, None, activation)
    assert result is not out and result.dtype == expected.dtype
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(out, g32)


def test_dense_layer_rejects_a_replacement_parameter_of_another_shape():
    layer = nn.Dense(4, 3, generator=seeded())
    with pytest.raises(ValueError, match=r"Dense.weight must have shape \(3, 4\), got \(4, 3\)"):
        layer.weight = sg.Parameter(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"Dense.bias must have shape \(3,\), got \(1,\)"):
        layer.bias = sg.Parameter(np.zeros(1, np.float32))
    layer.bias = sg.Parameter(np.ones(3, np.float32), name="bias")
    np.testing.assert_allclose(layer(np.zeros((2, 4), np.float32)).numpy(), np.ones((2, 3)))


def test_dense_layer_fuses_its_activation_into_one_tape_entry():
    from softgrad.autodiff import _vjp_all

    layer = nn.Dense(4, 3, activation="relu", generator=seeded())
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    tape = _vjp_all(layer, [x])[2].tape
    assert [entry[0].name for entry in tape if entry[0] is not None] == ["dense"]
    expected = np.maximum(x @ layer.weight.numpy().T + layer.bias.numpy(), 0)
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-6)


def test_layers_written_by_hand_from_ops_have_the_fused_layers_gradients():
    """relu(x @ W + b) from ops (matmul, add, relu: three tape entries; relu's rule writes into the cotangent the
    sweep owns, the bias gradient is a GEMV) trains as ``nn.Dense(activation='relu')``: the same loss and
    gradients, within float32 rounding."""
    x = RNG.standard_normal((300, 20)).astype(np.float32)  # 300 × 16 ≥ 4096 entries: the GEMV bias sums
    labels = RNG.integers(0, 4, 300)
    model = nn.SequentialCell(nn.Dense(20, 16, activation="relu", generator=seeded()),
                              nn.Dense(16, 4, generator=seeded(1)))
    w1, b1, w2, b2 = (sg.Parameter(p.numpy().T.copy() if p.ndim == 2 else p.numpy().copy(), name=f"p{k}")
                      for k, p in enumerate(model.trainable_params()))
    by_hand = [w1, b1, w2, b2]

    def hand(x):
        return ops.matmul(ops.relu(ops.add(ops.matmul(x, w1), b1)), w2) + b2

    fused_loss, fused = sg.value_and_grad(lambda x: ops.cross_entropy(model(x), labels), None,
                                          weights=model.trainable_params())(x)
    hand_loss, grads = sg.value_and_grad(lambda x: ops.cross_entropy(hand(x), labels), None, weights=by_hand)(x)
    np.testing.assert_allclose(hand_loss.numpy(), fused_loss.numpy(), rtol=1e-6)
    for g, f in zip(grads, fused):
        np.testing.assert_allclose(g.numpy(), f.numpy().T if f.ndim == 2 else f.numpy(), rtol=2e-5, atol=1e-7)


def test_sequential_fuses_dense_with_a_following_activation_cell():
    """Dense, ReLU() (PyTorch's spelling) runs as Dense(activation='relu'): one tape entry per pair, the same
    values and gradients as the unfused cells; pairs that cannot fuse run cell by cell."""
    from softgrad.autodiff import _vjp_all

    class Doubled(nn.Dense):  # its own construct: never bypassed
        def construct(self, x):
            return super().construct(x) * 2

    x = RNG.standard_normal((5, 4))
    for second in (nn.ReLU(), nn.Tanh(), nn.Sigmoid()):
        net = nn.SequentialCell(nn.Dense(4, 3, generator=seeded(), dtype=np.float64), second,
                                nn.Dense(3, 2, generator=seeded(1), dtype=np.float64))
        tape = _vjp_all(net, [x])[2].tape
        assert [entry[0].name for entry in tape if entry[0] is not None] == ["dense", "dense"]
        first, last = net[0], net[2]
        unfused = lambda x: last(second(ops.dense(x, first.weight, first.bias)))  # noqa: E731
        np.testing.assert_array_equal(net(x).numpy(), unfused(x).numpy())
        weights = net.trainable_params()
        loss = lambda f: sg.value_and_grad(lambda x: (f(x) ** 2).sum(), None, weights=weights)(x)  # noqa: E731
        (value, grads), (expected_value, expected_grads) = loss(net), loss(unfused)
        assert value.item() == expected_value.item()
        for g, e in zip(grads, expected_grads):
            np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-14)
        check_cell(net, x)
    for net in (nn.SequentialCell(nn.Dense(4, 3, activation="tanh", generator=seeded()), nn.ReLU()),
                nn.SequentialCell(Doubled(4, 3, generator=seeded()), nn.ReLU()),
                nn.SequentialCell(nn.Dense(4, 3, generator=seeded()), nn.Softmax())):
        tape = _vjp_all(net, [x.astype(np.float32)])[2].tape
        assert len([entry for entry in tape if entry[0] is not None]) > 1  # not fused
    doubled = nn.SequentialCell(Doubled(4, 3, generator=seeded()), nn.ReLU())
    np.testing.assert_allclose(doubled(x).numpy(), np.maximum(2 * (x @ doubled[0].weight.numpy().T
                                                                   + doubled[0].bias.numpy()), 0), rtol=1e-6)


def test_sequential_fuses_conv2d_with_a_following_activation_cell():
    """Conv2d (with or without bias), ReLU() runs as one conv2d_bias primitive: the bias added and the activation
    run inside it, the same values and gradients as ops.conv2d, a bias add and the activation op, both through
    Winograd (3×3, 4 channels) and im2col (1 channel in)."""
    from softgrad.autodiff import _vjp_all

    for channels, has_bias in ((4, True), (1, True), (4, False)):
        x = RNG.standard_normal((2, channels, 7, 6))
        for second in (nn.ReLU(), nn.Tanh(), nn.Sigmoid()):
            conv = nn.Conv2d(channels, 4, 3, pad_mode="valid", has_bias=has_bias, generator=seeded(),
                             dtype=np.float64)
            net = nn.SequentialCell(conv, second)
            tape = _vjp_all(net, [x])[2].tape
            assert [entry[0].name for entry in tape if entry[0] is not None] == ["conv2d_bias"]

            def unfused(x):
                y = ops.conv2d(x, conv.weight)
                return second(y + ops.reshape(conv.bias, (1, -1, 1, 1)) if has_bias else y)
            np.testing.assert_allclose(net(x).numpy(), unfused(x).numpy(), rtol=1e-13, atol=1e-15)
            weights = net.trainable_params()
            loss = lambda f: sg.value_and_grad(lambda x: (f(x) ** 2).sum(), None, weights=weights)(x)  # noqa: E731
            (value, grads), (expected_value, expected_grads) = loss(net), loss(unfused)
            np.testing.assert_allclose(value.item(), expected_value.item(), rtol=1e-13)
            for g, e in zip(grads, expected_grads):
                np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-12, atol=1e-14)
            check_cell(net, x)
    with pytest.raises(ValueError, match="bias must have shape"):
        ops.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((4, 4, 3, 3)), bias=np.zeros(3))
    with pytest.raises(ValueError, match=r"activation must be None or one of .*got 3"):
        ops.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((4, 4, 3, 3)), activation=3)


@pytest.mark.parametrize("activation", [ops.relu, ops.tanh, ops.sigmoid])
def test_an_activation_written_by_hand_on_a_convolution_folds_into_it(activation):
    """relu(conv2d(x, w, bias=b)) written by hand inside a first-order transform is applied in the convolution's
    own output and recorded as its activation: one conv2d_bias entry, as the fused layer makes, with the bits of
    the two ops run apart (through Winograd, whose output sizes 4 does not divide are crops of its tiles, and
    im2col). A convolution's output that a variable or a keyword argument also holds is never written over: the
    activation is its own entry then."""
    from softgrad import trace

    for channels, size in ((4, (10, 10)), (4, (9, 8)), (1, (10, 9))):
        x = RNG.standard_normal((2, channels) + size).astype(np.float32)
        w = RNG.standard_normal((3, channels, 3, 3)).astype(np.float32)
        b = RNG.standard_normal(3).astype(np.float32)
        entries = []

        def record(h):
            entries.append([(entry[0].name, entry[3].get("activation")) for entry in trace._only_tape
                            if entry[0] is not None])
            return (h * h).sum()

        def by_hand(w, b):
            return record(activation(ops.conv2d(x, w, bias=b)))

        def apart(w, b):
            y = ops.conv2d(x, w, bias=b)
            before = sg.stop_gradient(y).numpy().copy()
            h = activation(y)
            np.testing.assert_array_equal(sg.stop_gradient(y).numpy(), before)  # (y not written over)
            return record(h)

        def by_keyword(w, b):
            return record(activation(x=ops.conv2d(x, w, bias=b)))

        value, grads = sg.value_and_grad(by_hand, (0, 1))(w, b)
        name = activation.__name__
        assert entries.pop() == [("conv2d_bias", name)]
        for unfolded in (apart, by_keyword):
            expected_value, expected_grads = sg.value_and_grad(unfolded, (0, 1))(w, b)
            assert entries.pop() == [("conv2d_bias", None), (name, None)]
            assert value.item() == expected_value.item()
            for g, e in zip(grads, expected_grads):
                np.testing.assert_array_equal(g.numpy(), e.numpy())
        np.testing.assert_array_equal(activation(ops.conv2d(x, w, bias=b)).numpy(),
                                      activation(ops.conv2d(x, w) + ops.reshape(b, (1, -1, 1, 1))).numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sequential_runs_conv2d_relu_and_a_2x2_max_pool_as_one_primitive(kernels, dtype):
    """Conv2d, ReLU (or nothing), MaxPool2d(2) run as one primitive, the pool made as the convolution's output is
    (compiled Winograd: the output never written), with the bits of the cells run one by one, forward and
    gradients; through Winograd (4 channels in, odd output sizes: a row and a column no window reads) and im2col
    (1 channel in). A pool of other windows, stride, ceil_mode or another activation runs cell by cell."""
    from softgrad.autodiff import _vjp_all

    for channels, size, activation in ((4, (9, 8), nn.ReLU()), (1, (8, 9), nn.ReLU()), (4, (8, 8), None)):
        x = RNG.standard_normal((3, channels) + size).astype(dtype)
        conv = nn.Conv2d(channels, 5, 3, pad_mode="valid", has_bias=True, generator=seeded(), dtype=dtype)
        cells = [conv] + ([activation] if activation is not None else []) + [nn.MaxPool2d(2)]
        net = nn.SequentialCell(*cells, nn.Flatten())
        tape = _vjp_all(net, [x])[2].tape
        assert [entry[0].name for entry in tape if entry[0] is not None][0] == "conv2d_bias_pool"

        def one_by_one(x):
            for cell in (*cells, nn.Flatten()):
                x = cell(x)
            return x
        weights = net.trainable_params()
        loss = lambda f: sg.value_and_grad(lambda x: (f(x) ** 2).sum(), None, weights=weights)(x)  # noqa: E731
        np.testing.assert_array_equal(net(x).numpy(), one_by_one(x).numpy())
        (value, grads), (expected_value, expected_grads) = loss(net), loss(one_by_one)
        assert value.item() == expected_value.item()
        for g, e in zip(grads, expected_grads):
            np.testing.assert_array_equal(g.numpy(), e.numpy())
    x = RNG.standard_normal((2, 4, 8, 8)).astype(dtype)
    for pool in (nn.MaxPool2d(2, stride=1), nn.MaxPool2d(3), nn.MaxPool2d(2, ceil_mode=True),
                 nn.MaxPool2d(2, 2, "same")):
        for second in (nn.ReLU(), nn.Tanh()):
            net = nn.SequentialCell(nn.Conv2d(4, 5, 3, generator=seeded(), dtype=dtype), second, pool)
            names = [entry[0].name for entry in _vjp_all(net, [x])[2].tape if entry[0] is not None]
            assert "conv2d_bias_pool" not in names and "max_pool2d" in names
            if dtype == np.float64:
                check_cell(net, x)


def test_dense_kernel_weight_gradient_keeps_the_weight_layout():
    x, w = RNG.standard_normal((5, 4)).astype(np.float32), RNG.standard_normal((3, 4)).astype(np.float32)
    g = sg.grad(lambda w: ops.dense(x, w).sum())(w).numpy()
    assert g.flags.c_contiguous and g.dtype == np.float32
    column_major = np.asfortranarray(w)  # how nn.Dense stores its weight
    g_f = sg.grad(lambda w: ops.dense(x, w).sum())(column_major).numpy()
    assert g_f.flags.f_contiguous and not g_f.flags.c_contiguous
    np.testing.assert_allclose(g_f, g, rtol=1e-6)
    with pytest.raises(ValueError, match=r"reshape x to 2-D"):
        ops.dense(np.zeros((2, 3, 4)), w)
    with pytest.raises(ValueError, match="bias must have shape"):
        ops.dense(x, w, np.zeros(4))


def test_a_hand_written_layer_gets_its_weight_gradient_in_the_weight_layout():
    """x @ wᵀ (a dense layer written by hand from ops.matmul and ops.transpose): matmul's rule makes the cotangent of
    the column-major wᵀ column-major too, so w's gradient is row-major like w (the optimizer then reads it row by
    row); and a column-major left operand likewise. Values as from NumPy, in both dtypes."""
    for dtype in (np.float32, np.float64):
        x, w = RNG.standard_normal((5, 4)).astype(dtype), RNG.standard_normal((3, 4)).astype(dtype)
        g = RNG.standard_normal((5, 3)).astype(dtype)
        gx, gw = sg.grad(lambda x, w: (ops.matmul(x, ops.transpose(w, (1, 0))) * g).sum(), (0, 1))(x, w)
        assert gw.numpy().flags.c_contiguous and gw.dtype == dtype
        np.testing.assert_allclose(gw.numpy(), g.T @ x, rtol=1e-6)
        np.testing.assert_allclose(gx.numpy(), g @ w, rtol=1e-6)
        xf = np.asfortranarray(x)
        gxf = sg.grad(lambda x: (ops.matmul(x, w.T) * g).sum())(xf).numpy()
        assert gxf.flags.f_contiguous and not gxf.flags.c_contiguous
        np.testing.assert_allclose(gxf, g @ w, rtol=1e-6)
    x, w = x.astype(np.float64), w.astype(np.float64)  # second order through the swapped GEMM: against differences
    def gradient_sum(w):
        return sg.grad(lambda w: (ops.matmul(x, ops.transpose(w, (1, 0))) ** 2).sum())(w).sum()
    eps, numeric = 1e-6, np.zeros_like(w)
    for index in np.ndindex(w.shape):
        step = np.zeros_like(w)
        step[index] = eps
        numeric[index] = (gradient_sum(w + step).item() - gradient_sum(w - step).item()) / (2 * eps)
    np.testing.assert_allclose(sg.grad(gradient_sum)(w).numpy(), numeric, rtol=1e-6, atol=1e-8)


# ----- ReLU, Tanh, Flatten, Dropout, SequentialCell -----


@pytest.mark.parametrize("cell,reference", [(nn.ReLU(), lambda x: np.maximum(x, 0)), (nn.Tanh(), np.tanh)])
def test_elementwise_activations(cell, reference):
    x = RNG.choice([-1, 1], (3, 4)) * RNG.uniform(0.2, 2.0, (3, 4))  # away from ReLU's kink
    np.testing.assert_allclose(cell(x).numpy(), reference(x), rtol=1e-12)
    check_cell(cell, x)


def test_flatten():
    x = RNG.standard_normal((2, 3, 4, 5))
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    check_cell(nn.Flatten(), x)


def test_dropout_train_and_eval():
    layer = nn.Dropout(p=0.25, generator=seeded())
    x = np.ones((200, 100), dtype=np.float32)
    out = layer(x).numpy()
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(out[kept], 1 / 0.75)
    assert out.dtype == np.float32
    layer.set_train(False)
    assert layer(x) is x
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        nn.Dropout(p=1.0)


def test_dropout_masks_come_from_the_generator():
    x = np.ones((4, 5))
    a, b = nn.Dropout(generator=seeded(1)), nn.Dropout(generator=seeded(1))
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    assert not np.array_equal(a(x).numpy(), a(x).numpy())


def test_dropout_gradient_uses_the_same_mask():
    layer = nn.Dropout(p=0.5, generator=seeded())
    x = RNG.standard_normal((6, 7))
    state = layer.generator.state_dict()
    g = sg.grad(lambda x: layer(x).sum())(x).numpy()
    layer.generator.load_state_dict(state)
    out = layer(x).numpy()
    np.testing.assert_array_equal(g != 0, out != 0)
    np.testing.assert_allclose(g[g != 0], 2.0)


def test_dropout_gradcheck_with_a_fixed_mask():
    layer = nn.Dropout(p=0.3, generator=seeded())
    state = layer.generator.state_dict()

    def fn(x):
        layer.generator.load_state_dict(state)  # the same mask on every evaluation
        return layer(x)

    sg.check_grad(fn, RNG.standard_normal((4, 5)))


def test_sequential_cell():
    net = nn.SequentialCell([nn.Dense(4, 8, generator=seeded()), nn.Flatten(), nn.Dense(8, 2, generator=seeded(1))])
    assert len(net) == 3 and isinstance(net[0], nn.Dense) and len(net[1:]) == 2
    assert [name for name, _ in net.parameters_and_names()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert nn.Sequential is nn.SequentialCell
    net.append(nn.Dropout(0.5))
    net.set_train(False)
    assert not net[3].training
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(net(x).numpy(), net[2](net[0](x)).numpy())
    with pytest.raises(TypeError, match="takes Cells"):
        nn.SequentialCell([lambda x: x])


def test_sequential_gradients():
    net = nn.SequentialCell(nn.Dense(4, 6, generator=seeded(), dtype=np.float64),
                            nn.Dense(6, 3, activation="sigmoid", generator=seeded(1), dtype=np.float64))
    check_cell(net, RNG.standard_normal((5, 4)))


# ----- BatchNorm1d -----


def test_batchnorm_training_normalises_and_tracks_moving_averages():
    bn = nn.BatchNorm1d(3)
    x = RNG.standard_normal((50, 3)).astype(np.float32) * [1, 2, 3] + [0, 1, -1]
    out = bn(x).numpy()
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(0), 1, atol=1e-3)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-5)
    assert [p.name for p in bn.trainable_params()] == ["gamma", "beta"]
    assert {p.name for p in bn.untrainable_params()} == {"moving_mean", "moving_variance"}


def test_batchnorm_eval_uses_moving_averages():
    bn = nn.BatchNorm1d(2, moving_mean_init=1.0, moving_var_init=4.0).set_train(False)
    np.testing.assert_allclose(bn(np.array([[3.0, 5.0]])).numpy(), [[1.0, 2.0]], rtol=1e-5)


def test_batchnorm_on_sequences():
    bn = nn.BatchNorm1d(3)
    assert bn(RNG.standard_normal((4, 3, 5))).shape == (4, 3, 5)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        bn(np.zeros((4, 2)))


@pytest.mark.parametrize("shape,train", [((6, 3), True), ((4, 3, 5), True), ((6, 3), False)])
def test_batchnorm_gradients(shape, train):
    bn = nn.BatchNorm1d(3, gamma_init="normal", beta_init="normal", moving_var_init=2.0, dtype=np.float64)
    bn.set_train(train)
    check_cell(bn, RNG.standard_normal(shape))


# ----- Conv2d, MaxPool2d -----


def test_conv2d_pad_modes_and_shapes():
    x = RNG.standard_normal((2, 3, 9, 8)).astype(np.float32)
    assert nn.Conv2d(3, 4, 3, generator=seeded())(x).shape == (2, 4, 9, 8)
    assert nn.Conv2d(3, 4, 3, stride=2, generator=seeded())(x).shape == (2, 4, 5, 4)
    assert nn.Conv2d(3, 4, (3, 2), pad_mode="valid", generator=seeded())(x).shape == (2, 4, 7, 7)
    assert nn.Conv2d(3, 4, 3, pad_mode="pad", padding=(1, 0), generator=seeded())(x).shape == (2, 4, 9, 6)
    layer = nn.Conv2d(3, 4, 3, has_bias=True, generator=seeded())
    assert layer(x).dtype == np.float32
    assert [p.name for p in layer.trainable_params()] == ["weight", "bias"]
    with pytest.raises(ValueError, match="pad_mode='pad'"):
        nn.Conv2d(3, 4, 3, padding=1)
    depthwise = nn.Conv2d(3, 6, 3, group=3, generator=seeded())
    assert depthwise.weight.shape == (6, 1, 3, 3) and depthwise(x).shape == (2, 6, 9, 8)
    assert nn.Conv2d(3, 4, 3, dilation=2, generator=seeded())(x).shape == (2, 4, 9, 8)  # 'same' with the taps apart
    assert nn.Conv2d(3, 4, 3, pad_mode="valid", dilation=(2, 3), generator=seeded())(x).shape == (2, 4, 5, 2)
    with pytest.raises(ValueError, match="group=3 must divide"):
        nn.Conv2d(3, 4, 3, group=3)
    with pytest.raises(ValueError, match="3 channels"):
        ops.conv2d(x, np.zeros((4, 2, 3, 3), np.float32))


def test_conv2d_matches_a_direct_loop():
    x = RNG.standard_normal((2, 2, 6, 5))
    w = RNG.standard_normal((3, 2, 3, 2))
    out = ops.conv2d(x, w, stride=(2, 1), padding=((1, 0), (0, 1))).numpy()
    xp = np.pad(x, ((0, 0), (0, 0), (1, 0), (0, 1)))
    expected = np.zeros(out.shape)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            window = xp[:, :, 2 * i:2 * i + 3, j:j + 2]
            expected[:, :, i, j] = np.einsum("nchw,ochw->no", window, w)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3), dict(kernel_size=3, stride=2),
                                    dict(kernel_size=(2, 3), pad_mode="pad", padding=(1, 2), has_bias=True),
                                    dict(kernel_size=2, stride=2, pad_mode="valid", has_bias=True)])
def test_conv2d_gradients(kwargs):
    layer = nn.Conv2d(2, 3, generator=seeded(), dtype=np.float64, **kwargs)
    check_cell(layer, RNG.standard_normal((2, 2, 5, 6)))


def test_conv2d_second_order():
    x, w = RNG.standard_normal((1, 2, 4, 4)), RNG.standard_normal((2, 2, 3, 3))

    def gradient(x, w):
        return sg.grad(lambda x, w: (ops.conv2d(x, w, stride=1, padding=1) ** 2).sum(), (0, 1))(x, w)

    sg.check_grad(gradient, x, w)


def test_max_pool(kernels):
    x = np.array([[[[1.0, 2.0, 5.0, 0.0], [3.0, 4.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0], [9.0, 0.0, 2.0, 1.0]]]])
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x).numpy(), [[[[4.0, 5.0], [9.0, 2.0]]]])
    # ties: the whole gradient goes to the first maximum, as in PyTorch
    g = sg.grad(lambda x: nn.MaxPool2d(2)(x).sum())(x).numpy()
    np.testing.assert_array_equal(g[0, 0], [[0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0]])
    assert nn.MaxPool2d(3, stride=2, pad_mode="same")(RNG.standard_normal((1, 1, 7, 6))).shape == (1, 1, 4, 3)
    with pytest.raises(ValueError, match="half the kernel"):
        ops.max_pool2d(x, 2, padding=2)


def test_max_pool_ceil_mode_and_indices(kernels):
    """ceil_mode: 7 rows in windows of 2 make 4 (the last of one row); a window that would start in the bottom
    padding is dropped (5 + 2·1 with k = s = 3: ⌈4/3⌉ + 1 = 3 windows, but the third would start at row 6 ≥ 5 + 1).
    Indices: flat into each H×W plane, the first maximum of a window, and the same gradient as without them."""
    x = RNG.permutation(2 * 3 * 7 * 5).reshape(2, 3, 7, 5) / 10.0
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 3, 2) and nn.MaxPool2d(2, ceil_mode=True)(x).shape == (2, 3, 4, 3)
    assert nn.MaxPool2d(3, pad_mode="pad", padding=1, ceil_mode=True)(x[:, :, :5]).shape == (2, 3, 2, 2)
    out, indices = nn.MaxPool2d(2, return_indices=True, ceil_mode=True)(x)
    assert indices.dtype == np.int64 and indices.shape == out.shape
    planes = x.reshape(2, 3, -1)
    np.testing.assert_array_equal(np.take_along_axis(planes, indices.numpy().reshape(2, 3, -1), 2),
                                  out.numpy().reshape(2, 3, -1))
    last_row = x[0, 0, 6]  # the last window row holds row 6 alone; its last window, column 4 alone
    np.testing.assert_array_equal(indices.numpy()[0, 0, 3],
                                  [30 + np.argmax(last_row[0:2]), 32 + np.argmax(last_row[2:4]), 34])
    with_indices = sg.grad(lambda x: (nn.MaxPool2d(2, return_indices=True)(x)[0] ** 2).sum())(x).numpy()
    np.testing.assert_array_equal(with_indices, sg.grad(lambda x: (nn.MaxPool2d(2)(x) ** 2).sum())(x).numpy())
    ties = nn.MaxPool2d(2, return_indices=True)(np.ones((1, 1, 4, 4)))[1].numpy()[0, 0]
    np.testing.assert_array_equal(ties, [[0, 2], [8, 10]])


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool_indices_are_each_windows_first_maximum_among_ties(kernels, ceil_mode):
    """Many ties (values 0..2): every index is the first cell, row-major, holding its window's maximum, found by the
    compiled pool's forward sweep or by comparisons; a window of NaN falls back to the comparisons."""
    x = RNG.integers(0, 3, (3, 4, 7, 9)).astype(np.float32)
    out, indices = ops.max_pool2d(x, 2, return_indices=True, ceil_mode=ceil_mode)
    n, c, ho, wo = out.shape
    expected = np.empty((n, c, ho, wo), np.int64)
    for a, ch, i, j in np.ndindex(n, c, ho, wo):
        cells = [(r, q) for r in (2 * i, 2 * i + 1) for q in (2 * j, 2 * j + 1) if r < 7 and q < 9]
        best = max(x[a, ch, r, q] for r, q in cells)
        r, q = next(cell for cell in cells if x[a, ch][cell] == best)
        expected[a, ch, i, j] = r * 9 + q
    np.testing.assert_array_equal(indices.numpy(), expected)
    x[0, 0, 0, 0] = np.nan
    out, indices = ops.max_pool2d(x, 2, return_indices=True, ceil_mode=ceil_mode)
    assert np.isnan(out.numpy()[0, 0, 0, 0]) and 0 <= indices.numpy()[0, 0, 0, 0] < 63
    np.testing.assert_array_equal(indices.numpy()[1:], expected[1:])


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=2),
                                    dict(kernel_size=3, stride=1, pad_mode="pad", padding=1),
                                    dict(kernel_size=(2, 3), stride=(1, 2), pad_mode="same"),
                                    dict(kernel_size=(2, 4), ceil_mode=True),
                                    dict(kernel_size=3, stride=2, pad_mode="pad", padding=1, ceil_mode=True)])
def test_max_pool_gradients(kernels, kwargs):
    x = RNG.permutation(2 * 3 * 6 * 7).reshape(2, 3, 6, 7) / 10.0  # distinct values: no ties
    check_cell(nn.MaxPool2d(**kwargs), x)
    sg.check_grad(lambda x: sg.grad(lambda x: (nn.MaxPool2d(**kwargs)(x) ** 2).sum())(x), x)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2, dilation=2), dict(kernel_size=2, stride=1, dilation=(2, 3)),
                                    dict(kernel_size=3, stride=2, pad_mode="pad", padding=1, dilation=2,
                                         ceil_mode=True),
                                    dict(kernel_size=(3, 2), stride=1, pad_mode="same", dilation=(1, 2))])
def test_dilated_max_pool_gradients(kwargs):
    """Taps d apart: windows that skip cells, overlap (stride < extent) or reach into the padding; to second
    order, in float64."""
    x = RNG.permutation(2 * 3 * 7 * 8).reshape(2, 3, 7, 8) / 10.0  # distinct values: no ties
    check_cell(nn.MaxPool2d(**kwargs), x)
    sg.check_grad(lambda x: sg.grad(lambda x: (nn.MaxPool2d(**kwargs)(x) ** 2).sum())(x), x)


def _first_max_scatter(x, g, k, s, pad):
    """max-pool's gradient in NumPy: g[i, j] at the first maximum (row-major) of window (i, j), windows k×k, stride s,
    padded by -inf."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
    out = np.zeros_like(xp)
    for n, c, i, j in np.ndindex(g.shape):
        window = xp[n, c, s * i:s * i + k, s * j:s * j + k]
        p, q = np.unravel_index(np.argmax(window), window.shape)
        out[n, c, s * i + p, s * j + q] += g[n, c, i, j]
    return out[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]


@pytest.mark.parametrize("k, s, pad", [(2, 3, 0), (2, 2, 0), (3, 3, 0), (2, 2, 1), (3, 4, 1)],
                         ids=["gaps", "tiled", "tiled-3", "tiled-padded", "gaps-padded"])
def test_max_pool_gradient_reaches_first_maxima_only(kernels, k, s, pad):
    """Windows apart (stride > kernel: cells no window reads get 0, not whatever memory held) or tiling the input
    (one write per cell), with ties (zeros after a ReLU: the first maximum takes it all, as PyTorch)."""
    x = np.maximum(RNG.standard_normal((2, 8, 6, 6)), 0)
    out = ops.max_pool2d(x, k, stride=s, padding=pad)
    g = RNG.standard_normal(out.shape)
    for _ in range(2):  # (fresh memory that held other numbers)
        np.full((64, 64, 64, 8), 7.0)
        got = sg.grad(lambda x: (ops.max_pool2d(x, k, stride=s, padding=pad) * g).sum())(x).numpy()
        np.testing.assert_array_equal(got, _first_max_scatter(x, g, k, s, pad))


def test_dilated_max_pool_window_and_indices():
    """out[i, j] = max over x[s·i + d·p, s·j + d·q]; the indices point at those cells; 'same' pads for the extent."""
    x = RNG.permutation(1 * 1 * 7 * 7).reshape(1, 1, 7, 7) / 10.0
    out, indices = nn.MaxPool2d(2, stride=1, dilation=3, return_indices=True)(x)
    assert out.shape == (1, 1, 4, 4)
    expected = np.maximum.reduce([x[0, 0, p:p + 4, q:q + 4] for p in (0, 3) for q in (0, 3)])
    np.testing.assert_array_equal(out.numpy()[0, 0], expected)
    np.testing.assert_array_equal(x.reshape(-1)[indices.numpy().reshape(-1)], out.numpy().reshape(-1))
    assert nn.MaxPool2d(2, stride=1, pad_mode="same", dilation=2)(x).shape == (1, 1, 7, 7)  # extent 3: pads 1, 1


@pytest.mark.parametrize("cell", [nn.MaxPool2d(3, stride=2, pad_mode="pad", padding=1, dilation=2, ceil_mode=True),
                                  nn.AvgPool2d(3, stride=2, pad_mode="pad", padding=1, count_include_pad=False),
                                  nn.AvgPool2d(2, pad_mode="same", ceil_mode=True)], ids=["max", "avg", "avg-same"])
def test_channels_last_pooling_is_nchw_pooling_transposed(cell):
    """data_format='NHWC': (N, H, W, C) in and out, the values and gradients of NCHW pooling transposed."""
    x = RNG.permutation(2 * 3 * 7 * 8).reshape(2, 3, 7, 8) / 10.0
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    channels_last = type(cell)(**{**cell_options(cell), "data_format": "NHWC"})
    np.testing.assert_array_equal(channels_last(nhwc).numpy(), cell(x).numpy().transpose(0, 2, 3, 1))
    weights = RNG.standard_normal(cell(x).shape)
    g = sg.grad(lambda v: (cell(v) * weights).sum())(x).numpy()
    g_last = sg.grad(lambda v: (channels_last(v) * weights.transpose(0, 2, 3, 1)).sum())(nhwc).numpy()
    np.testing.assert_array_equal(g_last, g.transpose(0, 2, 3, 1))
    check_cell(channels_last, nhwc)


def cell_options(cell):
    """The constructor arguments of a pooling cell, from its attributes."""
    names = ("kernel_size", "stride", "pad_mode", "padding", "ceil_mode")
    options = {name: getattr(cell, name) for name in names}
    if isinstance(cell, nn.MaxPool2d):
        options["dilation"] = cell.dilation
    else:
        options["count_include_pad"] = cell.count_include_pad
    return options


def test_small_cnn_gradients():
    net = nn.SequentialCell(nn.Conv2d(1, 2, 3, has_bias=True, generator=seeded(), dtype=np.float64), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Dense(2 * 3 * 3, 3, generator=seeded(1), dtype=np.float64))
    check_cell(net, RNG.standard_normal((2, 1, 6, 6)))


def test_dense_weight_stays_column_major_through_training_and_set_data():
    layer = nn.Dense(4, 3, generator=sg.random.Generator(0))
    assert layer.weight.shape == (3, 4) and np.asarray(layer.weight).flags.f_contiguous
    opt = sg.optim.SGD(layer.trainable_params(), lr=0.1, momentum=0.9)
    step = sg.value_and_grad(lambda x: (layer(x) ** 2).sum(), None, weights=opt.parameters)
    for _ in range(2):
        opt(step(np.ones((2, 4), np.float32))[1])
    assert np.asarray(layer.weight).flags.f_contiguous
    layer.weight.set_data(np.zeros((3, 4), np.float32))
    assert np.asarray(layer.weight).flags.f_contiguous and not layer.weight.numpy().any()
