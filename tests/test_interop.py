"""Interop: DLPack zero-copy to and from NumPy (and PyTorch where it is installed, asserted then),
``torch.as_tensor(t)``, ``f"{loss:.4f}"``, PyTorch's ``.backward()`` / ``.grad`` answered with the
``value_and_grad`` form."""

import numpy as np
import pytest

import softgrad as sg


def test_numpy_reads_and_writes_a_tensor_through_dlpack_without_a_copy():
    t = sg.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    a = np.from_dlpack(t)
    assert np.shares_memory(a, t.numpy()) and a.dtype == np.float32 and a.shape == (2, 3)
    a[0, 0] = 7.0
    assert t.numpy()[0, 0] == 7.0
    assert t.__dlpack_device__() == (1, 0)  # kDLCPU, device 0


def test_from_dlpack_shares_the_memory_of_a_numpy_array():
    a = np.zeros((2, 2), np.float64)
    t = sg.from_dlpack(a)
    a[1, 1] = 3.0
    assert t.dtype == np.float64 and t.numpy()[1, 1] == 3.0 and np.shares_memory(t.numpy(), a)
    grad = sg.grad(lambda x: (x * x).sum())(t)  # and it is an ordinary Tensor
    np.testing.assert_array_equal(grad.numpy(), 2 * a)


def test_a_tensor_being_differentiated_is_not_exported():
    def f(x):
        np.from_dlpack(x)
        return x.sum()

    with pytest.raises(TypeError, match="silently cut the gradient path"):
        sg.grad(f)(sg.Tensor([1.0]))


def test_torch_shares_memory_both_ways():
    torch = pytest.importorskip("torch")
    t = sg.Tensor([1.0, 2.0, 3.0])
    x = torch.as_tensor(t)  # was "len() of a 0-d Tensor": torch took the Tensor for a nested sequence
    x[0] = 9.0
    assert t.numpy()[0] == 9.0 and x.dtype == torch.float32
    assert torch.as_tensor(sg.Tensor(1.5)).item() == 1.5 and torch.from_dlpack(sg.Parameter(t, name="w")).shape == (3,)
    y = torch.arange(4, dtype=torch.float64)
    s = sg.from_dlpack(y)
    y[2] = -1.0
    assert s.numpy()[2] == -1.0 and s.dtype == np.float64


def test_format_spec_on_a_scalar_tensor():
    loss = sg.ops.mean(sg.Tensor([0.5, 0.25]))
    assert f"{loss:.4f}" == "0.3750" and f"{loss:>8.2e}" == "3.75e-01" and f"{loss}" == str(loss)
    assert f"{sg.Tensor(np.int64(3)):03d}" == "003"
    with pytest.raises(TypeError, match=r"needs a 0-d Tensor \(a scalar\), got shape \(2,\); format x.item\(\)"):
        f"{sg.Tensor([1.0, 2.0]):.2f}"


def test_pytorch_habits_are_answered_with_the_value_and_grad_form():
    w = sg.Parameter(np.ones(2, np.float32), name="w")
    loss = (w * w).sum()
    with pytest.raises(TypeError, match=r"(?s)backward\(\).*value_and_grad\(forward_fn, None, weights="):
        loss.backward()
    with pytest.raises(AttributeError, match=r"(?s)\.grad.*loss, grads = grad_fn\(x, y\)"):
        w.grad
    with pytest.raises(AttributeError, match="value_and_grad"):
        w.grad = np.zeros(2)
    assert not hasattr(w, "grad")  # duck-typing code sees no .grad



def test_every_public_module_has_all_and_it_names_what_exists():
    import importlib
    import pkgutil

    modules = ["softgrad"] + [info.name for info in pkgutil.walk_packages(sg.__path__, "softgrad.")
                              if not any(part.startswith("_") for part in info.name.split("."))]
    missing, wrong = [], []
    for name in modules:
        module = importlib.import_module(name)
        if not hasattr(module, "__all__"):
            missing.append(name)
        else:
            wrong += [f"{name}.{item}" for item in module.__all__ if not hasattr(module, item)]
    assert not missing, f"public modules without __all__: {missing}"
    assert not wrong, f"__all__ names that do not exist: {wrong}"
