"""What a model looks like printed: each layer's hyperparameters in its repr (PyTorch's layout), and
``nn.summary`` (layers, output shapes, parameter counts) as torchinfo and MindSpore users expect."""

import softgrad as sg
from softgrad import nn


def test_reprs_show_each_layers_hyperparameters():
    expected = {
        nn.Dense(64, 10, activation="relu"): "Dense(in_channels=64, out_channels=10, has_bias=True, activation='relu')",
        nn.Dense(3, 2, has_bias=False): "Dense(in_channels=3, out_channels=2, has_bias=False, activation=None)",
        nn.Linear(10, 3): "Linear(in_features=10, out_features=3, bias=True)",
        nn.Conv2d(1, 4, 3, stride=2, pad_mode="pad", padding=1, has_bias=True):
            "Conv2d(in_channels=1, out_channels=4, kernel_size=(3, 3), stride=(2, 2), pad_mode='pad', padding=1, "
            "has_bias=True)",
        nn.MaxPool2d(2): "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), pad_mode='valid', padding=0)",
        nn.Dropout(0.25): "Dropout(p=0.25)",
        nn.BatchNorm1d(8, momentum=0.8): "BatchNorm1d(num_features=8, eps=1e-05, momentum=0.8, affine=True)",
        nn.Flatten(): "Flatten(start_dim=1, end_dim=-1)",
        nn.ReLU(): "ReLU()",
    }
    for cell, text in expected.items():
        assert repr(cell) == text


def test_containers_indent_their_cells_and_plain_cells_list_their_parameters():
    net = nn.SequentialCell(nn.Flatten(), nn.SequentialCell(nn.Dense(4, 2), nn.ReLU()))
    assert repr(net) == ("SequentialCell(\n  (0): Flatten(start_dim=1, end_dim=-1)\n  (1): SequentialCell(\n"
                         "    (0): Dense(in_channels=4, out_channels=2, has_bias=True, activation=None)\n"
                         "    (1): ReLU()\n  )\n)")

    class Neuron(nn.Cell):
        def __init__(self):
            super().__init__()
            self.w = sg.Parameter(sg.ops.ones((5, 3)), name="w")

        def extra_repr(self):  # PyTorch's form: a string
            return "features=5" if self.training else ""

    assert repr(Neuron()) == "Neuron(features=5)"
    assert repr(Neuron().set_train(False)) == "Neuron(\n  w: shape=(5, 3), dtype=float32\n)"
