"""Optimizers and schedules against PyTorch's reference trajectories (tests/golden/optim.npz, written by
scripts/golden/optim.py), plus in-place updates, state_dict round trips and the training-step helpers."""

import json
from pathlib import Path

import numpy as np
import pytest

import softgrad as sg
from softgrad import optim

GOLDEN = np.load(Path(__file__).parent / "golden" / "optim.npz", allow_pickle=False)
CONFIGS = json.loads(str(GOLDEN["configs"]))
TOLERANCE = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=2e-5, atol=2e-6)}


def make_problem(dtype):
    X, Y = (GOLDEN[k].astype(dtype) for k in ("X", "Y"))
    W = sg.Parameter(GOLDEN["W0"].astype(dtype), name="W")
    b = sg.Parameter(GOLDEN["b0"].astype(dtype), name="b")

    def loss():
        return ((sg.ops.tanh(X @ W + b) - Y) ** 2).mean()

    return W, b, sg.value_and_grad(loss, None, weights=[W, b])


def make_optimizer(class_name, kwargs, params):
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    return getattr(optim, class_name)(params, **kwargs)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(CONFIGS["optimizers"]))
def test_trajectory_matches_pytorch(name, dtype):
    class_name, kwargs = CONFIGS["optimizers"][name]
    W, b, loss_and_grads = make_problem(dtype)
    optimizer = make_optimizer(class_name, kwargs, [W, b])
    for step in range(1, CONFIGS["steps"] + 1):
        _, grads = loss_and_grads()
        optimizer(grads)
        np.testing.assert_allclose(W.numpy(), GOLDEN[f"{name}__{dtype}__W"][step], **TOLERANCE[dtype],
                                   err_msg=f"{name} {dtype} W after step {step}")
        np.testing.assert_allclose(b.numpy(), GOLDEN[f"{name}__{dtype}__b"][step], **TOLERANCE[dtype],
                                   err_msg=f"{name} {dtype} b after step {step}")
        assert W.dtype == np.dtype(dtype) and b.dtype == np.dtype(dtype)


def make_schedule(class_name, kwargs, optimizer):
    if class_name == "SequentialLR":
        children = [getattr(optim, child)(optimizer, **child_kwargs) for child, child_kwargs in kwargs["schedulers"]]
        return optim.SequentialLR(optimizer, children, milestones=kwargs["milestones"])
    return getattr(optim, class_name)(optimizer, **kwargs)


@pytest.mark.parametrize("name", list(CONFIGS["schedules"]))
def test_schedule_matches_pytorch(name):
    optimizer = optim.SGD([sg.Parameter(np.zeros(1), name="w")], lr=CONFIGS["schedule_base_lr"])
    schedule = make_schedule(*CONFIGS["schedules"][name], optimizer)
    lrs = [optimizer.lr]
    for _ in range(len(GOLDEN[f"schedule__{name}"]) - 1):
        schedule.step()
        lrs.append(optimizer.lr)
    np.testing.assert_allclose(lrs, GOLDEN[f"schedule__{name}"], rtol=1e-12, atol=1e-15)


def test_schedule_state_dict_resumes():
    optimizer = optim.SGD([sg.Parameter(np.zeros(1), name="w")], lr=0.1)
    schedule = optim.CosineAnnealingLR(optimizer, T_max=10)
    for _ in range(4):
        schedule.step()
    fresh_optimizer = optim.SGD([sg.Parameter(np.zeros(1), name="w")], lr=0.1)
    fresh = optim.CosineAnnealingLR(fresh_optimizer, T_max=10)
    fresh.load_state_dict(schedule.state_dict())
    schedule.step()
    fresh.step()
    assert fresh_optimizer.lr == optimizer.lr


def test_updates_parameters_in_place():
    W, b, loss_and_grads = make_problem("float32")
    arrays = [W.numpy(), b.numpy()]
    optimizer = optim.Adam([W, b], lr=0.1)
    optimizer(loss_and_grads()[1])
    assert W.numpy() is arrays[0] and b.numpy() is arrays[1]
    assert not np.allclose(arrays[0], GOLDEN["W0"])


@pytest.mark.parametrize("class_name,kwargs", [("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
                                               ("Adam", {"lr": 0.01, "amsgrad": True}),
                                               ("AdamW", {"lr": 0.01})])
def test_state_dict_round_trip_continues_identically(class_name, kwargs):
    W, b, loss_and_grads = make_problem("float32")
    optimizer = make_optimizer(class_name, kwargs, [W, b])
    for _ in range(3):
        optimizer(loss_and_grads()[1])
    saved_state = optimizer.state_dict()
    saved_params = [W.numpy().copy(), b.numpy().copy()]
    for _ in range(3):
        optimizer.step(loss_and_grads()[1])
    expected = [W.numpy().copy(), b.numpy().copy()]

    W2, b2, loss_and_grads2 = make_problem("float32")
    W2.set_data(saved_params[0])
    b2.set_data(saved_params[1])
    restored = make_optimizer(class_name, {"lr": 123.0}, [W2, b2])
    restored.load_state_dict(json.loads(json.dumps(saved_state, default=lambda a: a.tolist())))
    for _ in range(3):
        restored.step(loss_and_grads2()[1])
    assert restored.step_count == 6
    np.testing.assert_array_equal(W2.numpy(), expected[0])
    np.testing.assert_array_equal(b2.numpy(), expected[1])


@pytest.mark.parametrize("path", ["axpy", "scratch"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_sgd_large_parameter_update(order, path, monkeypatch):
    """p ← p − lr·g for a parameter above the scratch threshold, in either layout, by BLAS axpy or (axpy
    unavailable) through one scratch array reused every step; the caller's gradients are left untouched."""
    import softgrad.optim.optimizer as optimizer_module

    if path == "scratch":
        monkeypatch.setattr(optimizer_module, "axpy", lambda a, x, y: False)
    rng = np.random.default_rng(0)
    start = np.asarray(rng.standard_normal((300, 200)).astype(np.float32), order=order)
    p = sg.Parameter(start, name="w")
    opt = optim.SGD([p], lr=0.5)
    grads = [np.asarray(rng.standard_normal((300, 200)).astype(np.float32), order=order) for _ in range(3)]
    kept = [g.copy() for g in grads]
    expected = start.copy()
    for g in grads:
        opt([g])
        expected = expected - np.float32(0.5) * g
    np.testing.assert_allclose(p.numpy(), expected, rtol=0, atol=4 * np.finfo(np.float32).eps)  # FMA or not
    assert p.numpy().flags.f_contiguous == (order == "F")
    assert len(opt._scratch) == (1 if path == "scratch" else 0)
    for g, k in zip(grads, kept):
        np.testing.assert_array_equal(g, k)


def test_axpy_runs_only_where_blas_can():
    from softgrad._blas import _kernels
    from softgrad._parallel import axpy

    bundled = list((Path(np.__file__).resolve().parent.parent / "numpy.libs").glob("libscipy_openblas64_*"))
    assert bool(_kernels()) == bool(bundled)  # NumPy's wheels bundle it; then it must be found
    x, y = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    assert axpy(2.0, x, y) == bool(bundled)
    np.testing.assert_array_equal(y, 2 * x + 1 if bundled else 1)
    for other in (np.ones((2, 3), np.float32), np.ones((3, 2)).T, np.ones((2, 3))[:, ::1][::1, :2]):
        assert axpy(2.0, x, other) is False  # dtype, layout or shape differ: left alone for NumPy
    assert axpy(2.0, y, y.reshape(2, 3)) is False  # overlap
    frozen = x.copy()
    frozen.flags.writeable = False
    for a, b in ((frozen, y.copy()), (x, frozen), (x[:0], y[:0])):
        assert axpy(2.0, a, b) is False  # read-only or empty: left to NumPy
    if bundled:
        xf, yf = np.asfortranarray(x), np.asfortranarray(y)
        assert axpy(-1.0, xf, yf) and yf.flags.f_contiguous
        np.testing.assert_array_equal(yf, y - x)


def test_state_dict_is_a_copy():
    W, b, loss_and_grads = make_problem("float32")
    optimizer = optim.SGD([W, b], lr=0.1, momentum=0.9)
    optimizer(loss_and_grads()[1])
    state = optimizer.state_dict()
    optimizer(loss_and_grads()[1])
    assert not np.array_equal(state["state"][0]["momentum_buffer"], optimizer.state[0]["momentum_buffer"])


def test_errors_name_the_fix():
    W, b, loss_and_grads = make_problem("float32")
    with pytest.raises(ValueError, match="no parameters"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="trainable_params"):
        optim.SGD([np.zeros(2)], lr=0.1)
    optimizer = optim.SGD([W, b], lr=0.1)
    with pytest.raises(ValueError, match="1 gradient.*2 parameter"):
        optimizer([np.zeros((4, 3))])
    with pytest.raises(ValueError, match="shape"):
        optimizer([np.zeros((3, 4)), np.zeros(3)])
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([W], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([W], betas=(0.9, 1.0))


def test_train_one_step_cell_decreases_the_loss():
    rng = sg.random.Generator(0)
    net = sg.nn.Dense(3, 1, generator=rng)
    x = rng.normal((32, 3))
    y = x @ sg.Tensor([[1.0], [-2.0], [0.5]])

    def mse(pred, target):
        return ((pred - target) ** 2).mean()

    step = sg.nn.TrainOneStepCell(sg.nn.WithLossCell(net, mse), optim.SGD(net.trainable_params(), lr=0.1,
                                                                          momentum=0.5))
    losses = [float(step(x, y)) for _ in range(50)]
    assert losses[-1] < 1e-3 * losses[0]


# ----- exact resume: state restored in its parameter's layout (issue #12) -----


@pytest.mark.parametrize("class_name,kwargs", [("SGD", {"lr": 0.05, "momentum": 0.9}),
                                               ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
                                               ("Adam", {"lr": 1e-3, "amsgrad": True}), ("AdamW", {"lr": 1e-3})])
def test_state_restored_from_a_checkpoint_keeps_its_parameters_layout(class_name, kwargs):
    """A column-major parameter of ≥ 128 KiB (nn.Dense's weight) is updated by BLAS axpy, which needs the state in
    the same layout. A checkpoint stores row-major arrays; restored row-major, the update would run through NumPy
    after a resume and round differently (1e-7 off in the default `softgrad train`)."""
    from softgrad.optim.optimizer import _SCRATCH_BYTES

    rng = np.random.default_rng(0)
    start = np.asfortranarray(rng.standard_normal((256, 128)).astype(np.float32))
    assert start.nbytes >= _SCRATCH_BYTES
    grads = [np.asfortranarray(rng.standard_normal(start.shape).astype(np.float32)) for _ in range(6)]

    straight_w = sg.Parameter(start, name="w")
    straight = make_optimizer(class_name, kwargs, [straight_w])
    for g in grads:
        straight([g])

    w = sg.Parameter(start, name="w")
    first = make_optimizer(class_name, kwargs, [w])
    for g in grads[:3]:
        first([g])
    saved = first.state_dict()
    saved["state"] = [{k: np.ascontiguousarray(a) for k, a in s.items()} for s in saved["state"]]  # as on disk
    resumed_w = sg.Parameter(np.asfortranarray(w.numpy()), name="w")
    resumed = make_optimizer(class_name, kwargs, [resumed_w])
    resumed.load_state_dict(saved)
    assert all(a.flags.f_contiguous for a in resumed.state[0].values())
    for g in grads[3:]:
        resumed([g])
    np.testing.assert_array_equal(resumed_w.numpy(), straight_w.numpy())


def test_load_state_dict_checks_everything_before_changing_anything():
    W, b, loss_and_grads = make_problem("float32")
    optimizer = optim.SGD([W, b], lr=0.1, momentum=0.9)
    optimizer(loss_and_grads()[1])
    good = optimizer.state_dict()
    bad = dict(good, lr=0.5, hyperparameters=dict(good["hyperparameters"], momentum=0.5),
               state=[good["state"][0], {"momentum_buffer": np.full(3, np.nan)}])
    with pytest.raises(ValueError, match="momentum_buffer.*non-finite"):
        optimizer.load_state_dict(bad)
    assert optimizer.lr == 0.1 and optimizer.momentum == 0.9
    np.testing.assert_array_equal(optimizer.state[1]["momentum_buffer"], good["state"][1]["momentum_buffer"])


@pytest.mark.parametrize("make, name", [(lambda p: optim.Adam(p, lr=0.1), "exp_avg_sq"),
                                        (lambda p: optim.AdamW(p, amsgrad=True), "max_exp_avg_sq"),
                                        (lambda p: optim.RMSprop(p), "square_avg"),
                                        (lambda p: optim.Adagrad(p), "sum"),
                                        (lambda p: optim.Adadelta(p), "acc_delta")])
def test_a_negative_average_of_squares_is_a_damaged_checkpoint(make, name):
    """v = EMA of g² (or their sum) is never negative: a loaded negative entry would give √v = NaN steps later."""
    W, b, loss_and_grads = make_problem("float64")
    optimizer = make([W, b])
    optimizer(loss_and_grads()[1])
    saved = optimizer.state_dict()
    good = saved["state"][1][name].copy()
    saved["state"][1][name][1] = -1e-12
    with pytest.raises(ValueError, match=f"state '{name}' of 'b' holds negative values \\(-1e-12 first\\).*damaged"):
        optimizer.load_state_dict(saved)
    np.testing.assert_array_equal(optimizer.state[1][name], good)
    saved["state"][1][name][1] = 0.0  # zero is a genuine value (a gradient entry that was always 0)
    optimizer.load_state_dict(saved)


def test_a_bad_gradient_leaves_every_parameter_and_the_step_count_alone():
    W, b, loss_and_grads = make_problem("float32")
    optimizer = optim.Adam([W, b], lr=0.1)
    before = W.numpy().copy()
    with pytest.raises(ValueError, match="'b'"):
        optimizer([loss_and_grads()[1][0], np.zeros(7)])
    np.testing.assert_array_equal(W.numpy(), before)
    assert optimizer.step_count == 0 and optimizer.state == [{}, {}]


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-4),
                                  lambda p: optim.Adam(p, lr=0.1, betas=[0.8, 0.9], eps=1e-6, amsgrad=True),
                                  lambda p: optim.AdamW(p)])
def test_hyperparameters_round_trip_through_json(make):
    W, b, _ = make_problem("float32")
    optimizer = make([W, b])
    restored = make([W, b])
    restored.load_state_dict(json.loads(json.dumps(optimizer.state_dict())))
    assert restored.state_dict()["hyperparameters"] == optimizer.state_dict()["hyperparameters"]
