"""The Tensor type: construction, dtypes, NumPy interop, repr, indexing, and what it refuses."""

import numpy as np
import pytest

import softgrad as sg
from softgrad import ops
from softgrad.nn import Cell
from softgrad.tensor import Parameter, Tensor


def test_construction_and_dtypes():
    assert Tensor([1.0, 2.0]).dtype == np.float32  # Python floats: the deep-learning default
    assert Tensor([1, 2]).dtype == np.int64
    assert Tensor(np.array([1.0])).dtype == np.float64  # arrays keep their dtype
    assert Tensor([1, 2], sg.float16).dtype == np.float16
    assert sg.tensor([True]).dtype == sg.bool_
    for dtype in (sg.float16, sg.float32, sg.float64, sg.int32, sg.int64, sg.bool_):
        assert ops.zeros(2, dtype).dtype == dtype


def test_properties():
    t = Tensor(np.arange(6.0).reshape(2, 3))
    assert (t.shape, t.ndim, t.size, len(t)) == ((2, 3), 2, 6, 2)
    assert t.T.shape == (3, 2)
    assert t[1, 2].item() == 5.0
    assert [row.shape for row in t] == [(3,), (3,)]
    np.testing.assert_array_equal(np.asarray(t), np.arange(6.0).reshape(2, 3))
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    assert t.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert float(Tensor(2.5)) == 2.5 and int(Tensor(3)) == 3
    assert bool(Tensor(1.0)) and not bool(Tensor(0.0))
    with pytest.raises(TypeError):
        len(Tensor(1.0))


def test_repr_is_mindspore_style():
    assert repr(Tensor(np.ones((2, 1), np.int32))) == "Tensor(shape=[2, 1], dtype=Int32, value=\n[[1],\n [1]])"
    assert repr(Tensor(np.float32(1.5))) == "Tensor(shape=[], dtype=Float32, value= 1.5)"
    assert repr(Parameter(Tensor([1.0]), name="w")) == \
        "Parameter (name=w, shape=(1,), dtype=Float32, requires_grad=True)"


def test_comparisons_return_bool_tensors_and_tensors_stay_hashable():
    t = Tensor([1.0, 2.0, 3.0])
    assert (t > 1.5).dtype == np.bool_
    np.testing.assert_array_equal((t == 2.0).numpy(), [False, True, False])
    np.testing.assert_array_equal(((t > 1) & (t < 3)).numpy(), [False, True, False])
    np.testing.assert_array_equal((~(t > 1)).numpy(), [True, False, False])
    assert len({t, Tensor([1.0])}) == 2


def test_indexing_kinds():
    a = np.arange(24.0).reshape(2, 3, 4)
    t = Tensor(a)
    for index in [1, (1, 2), (slice(None), 0), (Ellipsis, 1), np.array([1, 0]), a > 10, (0, np.array([0, 2]))]:
        np.testing.assert_array_equal(t[index].numpy(), a[index])
    np.testing.assert_array_equal(t[Tensor(np.array([1, 1]))].numpy(), a[[1, 1]])


def test_setitem_untraced_and_error_when_traced():
    t = Tensor(np.zeros(3))
    t[1] = 5.0
    t[Tensor(np.array([2]))] = Tensor(7.0)
    np.testing.assert_array_equal(t.numpy(), [0, 5, 7])

    def assigns(x):
        x[0] = 1.0
        return x.sum()

    with pytest.raises(TypeError, match="ops.where"):
        sg.grad(assigns)(np.zeros(2))


def test_ndarray_on_the_left_defers_to_tensor():
    out = np.ones(2) * Tensor([2.0, 3.0])
    assert isinstance(out, Tensor)
    g = sg.grad(lambda x: (np.array([1.0, 2.0]) * x).sum())(np.ones(2))
    np.testing.assert_array_equal(g.numpy(), [1.0, 2.0])


def test_methods_mirror_ops():
    a = np.arange(1.0, 7.0).reshape(2, 3)
    t = Tensor(a)
    np.testing.assert_allclose(t.sum(axis=1).numpy(), a.sum(axis=1))
    np.testing.assert_allclose(t.mean().numpy(), a.mean())
    np.testing.assert_allclose(t.reshape(3, 2).numpy(), a.reshape(3, 2))
    np.testing.assert_allclose(t.transpose(1, 0).numpy(), a.T)
    np.testing.assert_allclose(t.exp().log().numpy(), a)
    np.testing.assert_allclose(np.sum(t).numpy(), a.sum())
    assert t.astype(sg.float32).dtype == np.float32
    assert t.argmax(axis=1).numpy().tolist() == [2, 2]


def test_parameter_copies_and_set_data():
    source = np.zeros(2, np.float32)
    p = Parameter(source, name="p")
    p.numpy()[0] = 1.0
    assert source[0] == 0.0  # updated in place without aliasing the caller's array
    p.set_data(np.array([3.0, 4.0], np.float32))
    np.testing.assert_array_equal(p.numpy(), [3, 4])
    with pytest.raises(ValueError, match=r"expected shape \(2,\), got \(3,\)"):
        p.set_data(np.zeros(3))


class Block(Cell):
    def __init__(self):
        super().__init__()
        self.weight = Parameter(ops.ones((2, 2)))
        self.bias = Parameter(ops.zeros(2))

    def construct(self, x):
        return x @ self.weight + self.bias


class Model(Cell):
    def __init__(self):
        super().__init__()
        self.fc1 = Block()
        self.fc2 = Block()
        self.scale = Parameter(ops.ones(1), requires_grad=False)

    def construct(self, x):
        return self.fc2(self.fc1(x)) * self.scale


def test_cell_registration_and_names():
    model = Model()
    names = [p.name for p in model.trainable_params()]
    assert names == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert list(model.parameters_dict()) == ["scale"] + names  # own Parameters first, as PyTorch and MindSpore
    assert model(ops.ones((1, 2))).shape == (1, 2)
    assert model.set_train(False) is model and not model.fc1.training
    model.train()
    assert model.fc2.training


def test_pytorch_style_module_with_forward():
    class Torchy(sg.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = Parameter(ops.full((2,), 3.0))

        def forward(self, x):
            return (self.w * x).sum()

    m = Torchy()
    assert float(m(ops.ones(2))) == 6.0
    assert [name for name, _ in m.named_parameters()] == ["w"]
    g = sg.grad(m, None, weights=m.parameters())(ops.ones(2))
    np.testing.assert_array_equal(g[0].numpy(), [1.0, 1.0])


def test_cell_without_super_init_is_a_clear_error():
    class Broken(Cell):
        def __init__(self):
            self.w = Parameter(ops.ones(1))

    with pytest.raises(AttributeError, match="super"):
        Broken()
