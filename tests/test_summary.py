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
            "dilation=(1, 1), group=1, has_bias=True)",
        nn.MaxPool2d(2): "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), pad_mode='valid', padding=0, "
                         "dilation=(1, 1), return_indices=False, ceil_mode=False, data_format='NCHW')",
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


def lenet_like():
    g = sg.random.Generator(0)
    return nn.SequentialCell(
        nn.Conv2d(1, 4, 3, pad_mode="valid", has_bias=True, generator=g), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Dense(4 * 3 * 3, 8, generator=g), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5, generator=g),
        nn.Dense(8, 10, generator=g))


def test_summary_lists_layers_output_shapes_and_parameter_counts():
    net = lenet_like()
    result = nn.summary(net, (3, 1, 8, 8))
    assert [(row.depth, row.name, row.kind, row.output_shape, row.num_params) for row in result.rows] == [
        (0, "", "SequentialCell", [3, 10], 40 + 296 + 32 + 90),
        (1, "0", "Conv2d", [3, 4, 6, 6], 40), (1, "1", "ReLU", [3, 4, 6, 6], 0),
        (1, "2", "MaxPool2d", [3, 4, 3, 3], 0), (1, "3", "Flatten", [3, 36], 0), (1, "4", "Dense", [3, 8], 296),
        (1, "5", "BatchNorm1d", [3, 8], 32), (1, "6", "ReLU", [3, 8], 0), (1, "7", "Dropout", [3, 8], 0),
        (1, "8", "Dense", [3, 10], 90)]
    assert (result.total_params, result.trainable_params, result.param_bytes) == (458, 442, 458 * 4)
    text = str(result)
    assert "  4: Dense" in text and "[3, 4, 6, 6]" in text and "Non-trainable params: 16" in text
    assert repr(result) == text


def test_summary_changes_nothing_in_the_model():
    net = lenet_like()
    net[7].set_train(False)  # a mixed state, restored exactly
    before = {name: value.numpy() for name, value in net.state_dict().items()}
    nn.summary(net, (4, 1, 8, 8))
    assert [cell.training for _, cell in net.cells_and_names()] == [True] * 8 + [False, True]
    for name, value in net.state_dict().items():
        assert value.numpy().tobytes() == before[name].tobytes()  # the moving statistics did not move
    assert "construct" not in vars(net[4]) and "construct_with" not in vars(net[4])


def test_summary_of_a_cell_with_several_outputs_and_a_fused_activation():
    class TwoHeads(nn.Cell):
        def __init__(self):
            super().__init__()
            self.body = nn.SequentialCell(nn.Dense(4, 3), nn.Tanh())  # runs as one fused Dense
            self.heads = nn.CellList([nn.Dense(3, 2), nn.Dense(3, 5)])

        def construct(self, x):
            h = self.body(x)
            return self.heads[0](h), self.heads[1](h)

    rows = nn.summary(TwoHeads(), [6, 4]).rows
    assert [(row.name, row.output_shape) for row in rows] == [
        ("", [[6, 2], [6, 5]]), ("body", [6, 3]), ("0", [6, 3]), ("1", [6, 3]), ("heads", None), ("0", [6, 2]),
        ("1", [6, 5])]
    assert "heads: CellList" in str(nn.summary(TwoHeads(), [6, 4])) and "--" in str(nn.summary(TwoHeads(), [6, 4]))
