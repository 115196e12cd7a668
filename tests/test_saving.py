"""Saving and loading models: ``Cell.state_dict`` / ``load_state_dict`` (PyTorch's) and ``save_checkpoint`` /
``load_checkpoint`` / ``load_param_into_net`` (MindSpore's) over safetensors: a saved model loads into a fresh
one and predicts the same bits, buffers included; every difference of names, shapes and dtypes is named."""

import os
import warnings

import numpy as np
import pytest

import softgrad as sg
from softgrad import nn


def small_cnn(seed: int) -> nn.Cell:
    g = sg.random.Generator(seed)
    return nn.SequentialCell(
        nn.Conv2d(1, 4, 3, generator=g), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Dense(4 * 4 * 4, 16, generator=g), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3, generator=g),
        nn.Dense(16, 10, generator=g))


def trained_cnn(x) -> nn.Cell:
    net = small_cnn(0)
    y = np.arange(len(x)) % 10
    optimizer = sg.optim.SGD(net.trainable_params(), lr=0.1, momentum=0.9)
    step = sg.value_and_grad(lambda x, y: sg.ops.cross_entropy(net(x), y), None, weights=optimizer.parameters)
    for _ in range(3):  # moves the weights and BatchNorm's moving statistics away from their initial values
        optimizer(step(x, y)[1])
    return net.set_train(False)


def test_a_saved_model_loads_into_a_fresh_one_and_predicts_the_same_bits(tmp_path):
    x = sg.random.Generator(1).normal((8, 1, 8, 8))
    net = trained_cnn(x)
    sg.save_checkpoint(net, tmp_path / "net.safetensors")

    fresh = small_cnn(7).set_train(False)
    assert not np.array_equal(fresh(x).numpy(), net(x).numpy())
    assert sg.load_param_into_net(fresh, sg.load_checkpoint(tmp_path / "net.safetensors")) == ([], [])
    assert fresh(x).numpy().tobytes() == net(x).numpy().tobytes()
    np.testing.assert_array_equal(fresh[5].moving_variance.numpy(), net[5].moving_variance.numpy())
    assert not np.array_equal(net[5].moving_variance.numpy(), np.ones(16, np.float32))  # a buffer that moved

    other = small_cnn(8).set_train(False)
    sg.load_checkpoint(tmp_path / "net.safetensors", net=other, strict_load=True)  # MindSpore's one-call form
    assert other(x).numpy().tobytes() == net(x).numpy().tobytes()
    assert other[4].weight.numpy().flags.f_contiguous  # Dense keeps its column-major (BLAS) layout


def test_the_file_is_plain_safetensors_written_atomically(tmp_path):
    import safetensors.numpy

    net = small_cnn(0)
    path = tmp_path / "net.safetensors"
    sg.save_checkpoint(net, path)
    arrays = safetensors.numpy.load_file(path)  # any safetensors reader opens it
    assert set(arrays) == set(net.parameters_dict()) and arrays["5.moving_mean"].dtype == np.float32
    assert os.listdir(tmp_path) == ["net.safetensors"] and b"pickle" not in path.read_bytes()
    before = path.read_bytes()
    with pytest.raises(TypeError):
        sg.save_checkpoint(net, path, choice_func=lambda name: name + 1)  # fails mid-way: the old file stays
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["net.safetensors"]


def test_save_checkpoint_takes_a_cell_a_dict_or_a_list_of_parameters(tmp_path):
    net = nn.Dense(3, 2)
    sg.save_checkpoint(net.trainable_params(), tmp_path / "a.safetensors")
    sg.save_checkpoint([{"name": "w", "data": sg.ops.ones(2)}], tmp_path / "b.safetensors")
    sg.save_checkpoint(net, tmp_path / "c.safetensors", choice_func=lambda name: name != "bias")
    assert sorted(sg.load_checkpoint(tmp_path / "a.safetensors")) == ["bias", "weight"]
    assert list(sg.load_checkpoint(tmp_path / "b.safetensors")) == ["w"]
    assert list(sg.load_checkpoint(tmp_path / "c.safetensors")) == ["weight"]
    params = sg.load_checkpoint(tmp_path / "a.safetensors", choice_func=lambda name: name == "bias")
    assert list(params) == ["bias"] and isinstance(params["bias"], sg.Parameter) and params["bias"].name == "bias"
    sg.save_checkpoint(params, tmp_path / "d.safetensors")  # load_checkpoint's dict saves back
    np.testing.assert_array_equal(sg.load_checkpoint(tmp_path / "d.safetensors")["bias"].numpy(), net.bias.numpy())


def test_state_dict_is_a_copy_holding_the_buffers_and_loads_back():
    net = nn.SequentialCell(nn.Dense(3, 4), nn.BatchNorm1d(4))
    state = net.state_dict()
    assert list(state) == ["0.weight", "0.bias", "1.gamma", "1.beta", "1.moving_mean", "1.moving_variance"]
    net(sg.random.Generator(0).normal((6, 3)))  # training mode: moves the moving statistics
    assert np.array_equal(state["1.moving_mean"].numpy(), np.zeros(4)) and net[1].moving_mean.numpy().any()
    assert net.load_state_dict(state) == ([], [])
    np.testing.assert_array_equal(net[1].moving_mean.numpy(), np.zeros(4))
    result = net.load_state_dict({"0.bias": np.ones(4, np.float32), "extra": np.ones(1)}, strict=False)
    assert result.missing_keys == [name for name in state if name != "0.bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(net[0].bias.numpy(), np.ones(4))


def test_loading_names_what_differs_and_changes_nothing():
    net = nn.SequentialCell(nn.Dense(3, 4), nn.BatchNorm1d(4))
    before = {name: value.numpy() for name, value in net.state_dict().items()}
    state = net.state_dict()
    wrong_dtype = dict(state, **{"1.gamma": np.ones(4, np.float64)})
    with pytest.raises(ValueError, match=r"tensor '1.gamma' is stored as float64, the model's parameter is float32"):
        net.load_state_dict(wrong_dtype)
    wrong_shape = dict(state, **{"0.weight": np.ones((4, 2), np.float32)})
    with pytest.raises(ValueError, match=r"tensor '0.weight' has shape \(4, 2\), the model expects \(4, 3\)"):
        net.load_state_dict(wrong_shape, strict=False)  # shapes are checked even when not strict (as PyTorch)
    del state["1.beta"]
    state["head.weight"] = np.ones(2, np.float32)
    with pytest.raises(ValueError, match=r"missing \['1.beta'\].*unexpected \['head.weight'\].*strict=False"):
        net.load_state_dict(state)
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[name])


def test_load_param_into_net_returns_and_warns_what_it_did_not_load(tmp_path):
    sg.save_checkpoint(nn.SequentialCell(nn.Dense(3, 4)), tmp_path / "part.safetensors")
    net = nn.SequentialCell(nn.Dense(3, 4), nn.Dense(4, 2))
    params = sg.load_checkpoint(tmp_path / "part.safetensors")
    with pytest.warns(UserWarning, match=r"its Parameters \['1.weight', '1.bias'\]"):
        assert sg.load_param_into_net(net, params) == (["1.weight", "1.bias"], [])
    np.testing.assert_array_equal(net[0].weight.numpy(), params["0.weight"].numpy())
    with pytest.raises(ValueError, match=r"part.safetensors does not fit this SequentialCell: missing \['1.weight'"):
        sg.load_checkpoint(tmp_path / "part.safetensors", net, strict_load=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sg.load_param_into_net(nn.SequentialCell(nn.Dense(3, 4)), params, strict_load=True) == ([], [])


@pytest.mark.parametrize("cut", [0, 7, 50, -3])
def test_a_damaged_file_is_refused_naming_it(tmp_path, cut):
    path = tmp_path / "net.safetensors"
    sg.save_checkpoint(nn.Dense(3, 2), path)
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(ValueError, match="net.safetensors.*damaged or truncated"):
        sg.load_checkpoint(path)


# ----- layers kept where the Cell cannot see them -----


def test_layers_in_a_plain_list_raise_with_the_fix():
    class Net(nn.Cell):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Dense(2, 2), nn.Dense(2, 1)]

    with pytest.raises(TypeError, match=r"'layers' is a plain list holding Dense 0 \(2 unregistered\).*nn.CellList"):
        Net().trainable_params()

    class Later(nn.Cell):  # the list was empty when assigned: caught too
        def __init__(self):
            super().__init__()
            self.blocks = {}
            self.blocks["a"] = nn.Dense(2, 2)

    with pytest.raises(TypeError, match=r"'blocks' is a plain dict.*nn.CellDict"):
        Later().state_dict()


def test_lists_of_registered_parameters_are_fine():
    net = nn.Dense(2, 1)
    forward = nn.ForwardValueAndGrad(net, weights=net.trainable_params(), get_by_list=True)  # keeps a list
    assert [p.name for p in forward.trainable_params()] == ["weight", "bias"]
