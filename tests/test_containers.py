"""CellList / ModuleList and CellDict / ModuleDict register what they hold (MindSpore's and PyTorch's names and
semantics), and SequentialCell is built from a list or an ordered dict."""

from collections import OrderedDict

import numpy as np
import pytest

import softgrad as sg
from softgrad import nn


def names(cell):
    return [name for name, _ in cell.parameters_and_names()]


class Tower(nn.Cell):
    def __init__(self, widths):
        super().__init__()
        self.layers = nn.CellList([nn.Dense(a, b) for a, b in zip(widths, widths[1:])])
        self.heads = nn.CellDict({"digit": nn.Dense(widths[-1], 10), "parity": nn.Dense(widths[-1], 2)})

    def construct(self, x):
        for layer in self.layers:
            x = sg.ops.relu(layer(x))
        return self.heads["digit"](x), self.heads["parity"](x)


def test_a_model_with_containers_has_every_parameter_and_trains_them():
    sg.set_seed(0)  # (unseeded, a dead ReLU unit now and then zeroes a layer's gradient)
    net = Tower([4, 3, 3])
    assert names(net) == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
                          "heads.digit.weight", "heads.digit.bias", "heads.parity.weight", "heads.parity.bias"]
    x, y = sg.random.Generator(0).normal((5, 4)), np.arange(5)
    grads = sg.grad(lambda x: sg.ops.cross_entropy(net(x)[0], y), None, weights=net.trainable_params())(x)
    assert len(grads) == 8 and all(np.abs(g.numpy()).sum() > 0 for g in grads[:2] + grads[4:6])
    assert net.set_train(False).layers[1].training is False  # set_train reaches them too


def test_cell_list_behaves_as_a_list_and_renumbers():
    relu, tanh, flatten = nn.ReLU(), nn.Tanh(), nn.Flatten()
    cells = nn.ModuleList([relu])
    cells.append(tanh)
    cells += [nn.Sigmoid()]
    cells.insert(0, flatten)
    assert list(cells) == [flatten, relu, tanh, cells[3]] and len(cells) == 4 and cells[-1] is cells[3]
    del cells[1]
    assert list(cells._cells) == ["0", "1", "2"] and cells[1] is tanh
    cells[0] = relu
    assert cells[0] is relu and isinstance(cells[1:], nn.CellList) and list(cells[1:]) == [tanh, cells[2]]
    with pytest.raises(TypeError, match="CellList is not callable"):
        cells(np.ones(2))


def test_cell_dict_behaves_as_an_ordered_dict():
    a, b = nn.Dense(2, 2), nn.Dense(2, 1)
    cells = nn.ModuleDict([("b", b), ("a", a)])
    assert list(cells) == ["b", "a"] and list(cells.values()) == [b, a] and "a" in cells and len(cells) == 2
    cells.update({"c": nn.ReLU()})
    assert cells.pop("b") is b and list(cells.keys()) == ["a", "c"]
    del cells["c"]
    assert names(cells) == ["a.weight", "a.bias"]
    cells.clear()
    assert len(cells) == 0 and names(cells) == []


def test_sequential_cell_from_a_list_or_an_ordered_dict():
    g = sg.random.Generator(0)
    first, second = nn.Dense(3, 2, generator=g), nn.Dense(2, 1, generator=g)
    by_list = nn.SequentialCell([first, nn.ReLU(), second])
    by_dict = nn.SequentialCell(OrderedDict([("hidden", first), ("act", nn.ReLU()), ("out", second)]))
    assert names(by_dict) == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    x = g.normal((4, 3))
    np.testing.assert_array_equal(by_list(x).numpy(), by_dict(x).numpy())

