"""The optimizers, parameter groups, schedules and gradient clipping of issue #16 against PyTorch's reference
trajectories (tests/golden/optim_more.npz, written by scripts/golden/optim_more.py), step by step in float64 and
float32; plus parameter groups' state_dict round trips and what Momentum takes from MindSpore."""

import json
from pathlib import Path

import numpy as np
import pytest

import softgrad as sg
from softgrad import optim

GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN = np.load(GOLDEN_DIR / "optim_more.npz", allow_pickle=False)
PROBLEM = np.load(GOLDEN_DIR / "optim.npz", allow_pickle=False)
CONFIGS = json.loads(str(GOLDEN["configs"]))
TOLERANCE = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=2e-5, atol=2e-6)}


def _tuples(kwargs):
    return {k: tuple(v) if k == "betas" else v for k, v in kwargs.items()}


def make_params(dtype):
    return {"W": sg.Parameter(PROBLEM["W0"].astype(dtype), name="W"),
            "b": sg.Parameter(PROBLEM["b0"].astype(dtype), name="b")}


def make_optimizer(run, named):
    class_name, kwargs = run["optimizer"]
    params = list(named.values())
    if run["groups"] is not None:
        params = [{key: [named[n] for n in value] if key in ("params", "order_params") else value
                   for key, value in _tuples(group).items()} for group in run["groups"]]
    return getattr(optim, class_name)(params, **kwargs)


def make_schedule(spec, optimizer):
    if spec is None:
        return None
    class_name, kwargs = spec
    return getattr(optim, class_name)(optimizer, **kwargs)


def clipped(grads, clip):
    if clip is None:
        return grads
    kind, kwargs = clip
    if kind == "clip_grad_norm_":
        return optim.clip_grad_norm_(grads, **kwargs)[0]
    return optim.clip_by_global_norm(grads, **kwargs)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(CONFIGS["trajectories"]))
def test_trajectory_matches_pytorch(name, dtype):
    run = CONFIGS["trajectories"][name]
    named = make_params(dtype)
    X, Y = (PROBLEM[k].astype(dtype) for k in ("X", "Y"))
    optimizer = make_optimizer(run, named)
    schedule = make_schedule(run["schedule"], optimizer)

    def loss():
        return ((sg.ops.tanh(X @ named["W"] + named["b"]) - Y) ** 2).mean()

    loss_and_grads = sg.value_and_grad(loss, None, weights=optimizer.parameters)
    for step in range(1, CONFIGS["steps"] + 1):
        _, grads = loss_and_grads()
        grads = [g * run["grad_scale"] for g in grads] if run["grad_scale"] != 1 else grads
        optimizer(clipped(grads, run["clip"]))
        if schedule is not None:
            schedule.step()
        for key in ("W", "b"):
            np.testing.assert_allclose(named[key].numpy(), GOLDEN[f"{name}__{dtype}__{key}"][step], **TOLERANCE[dtype],
                                       err_msg=f"{name} {dtype} {key} after step {step}")
            assert named[key].dtype == np.dtype(dtype)


def momentum_of(group):
    return group["betas"][0] if "betas" in group else group["momentum"]


@pytest.mark.parametrize("name", list(CONFIGS["schedules"]))
def test_schedule_matches_pytorch(name):
    """Each parameter group's learning rate (and OneCycleLR's momentum) after every step."""
    params = [sg.Parameter(np.zeros(1), name=f"p{i}") for i in range(len(CONFIGS["schedule_lrs"]))]
    optimizer = optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, CONFIGS["schedule_lrs"])], lr=0.1,
                          momentum=0.9)
    class_name, kwargs = CONFIGS["schedules"][name]
    schedule = make_schedule((class_name, kwargs), optimizer)
    rows = []
    for step in range(len(GOLDEN[f"schedule__{name}"])):
        rows.append([g["lr"] for g in optimizer.param_groups] + [momentum_of(g) for g in optimizer.param_groups])
        if step < len(GOLDEN[f"schedule__{name}"]) - 1:
            schedule.step(CONFIGS["metrics"][step]) if class_name == "ReduceLROnPlateau" else schedule.step()
    np.testing.assert_allclose(rows, GOLDEN[f"schedule__{name}"], rtol=1e-12, atol=1e-15)


# ----- parameter groups: state_dict, shared values, MindSpore's forms -----


def grouped(dtype="float32", cls=optim.SGD, **kwargs):
    named = make_params(dtype)
    groups = [{"params": [named["W"]], "lr": 0.02, "weight_decay": 0.1}, {"params": named["b"]}]
    return named, cls(groups, **dict({"lr": 0.1, "momentum": 0.9}, **kwargs))


def problem_grads(named):
    X, Y = PROBLEM["X"].astype(np.float32), PROBLEM["Y"].astype(np.float32)
    return sg.value_and_grad(lambda: ((sg.ops.tanh(X @ named["W"] + named["b"]) - Y) ** 2).mean(), None,
                             weights=[named["W"], named["b"]])


def test_groups_state_dict_round_trip_continues_identically():
    named, optimizer = grouped()
    loss_and_grads = problem_grads(named)
    schedule = optim.ExponentialLR(optimizer, gamma=0.5)
    for _ in range(3):
        optimizer(loss_and_grads()[1])
        schedule.step()
    saved = json.loads(json.dumps(optimizer.state_dict(), default=lambda a: a.tolist()))
    assert [g["params"] for g in saved["param_groups"]] == [[0], [1]] and "lr" not in saved
    assert [g["lr"] for g in saved["param_groups"]] == [0.02 / 8, 0.1 / 8]
    start = {k: p.numpy().copy() for k, p in named.items()}
    for _ in range(3):
        optimizer(loss_and_grads()[1])
    named2, restored = grouped(momentum=0.5)
    for key, value in start.items():
        named2[key].set_data(value)
    restored.load_state_dict(saved)
    loss_and_grads2 = problem_grads(named2)
    for _ in range(3):
        restored(loss_and_grads2()[1])
    for key in named:
        np.testing.assert_array_equal(named2[key].numpy(), named[key].numpy())
    assert restored.param_groups[0]["momentum"] == 0.9 and restored.param_groups[1]["initial_lr"] == 0.1


def test_groups_state_dict_must_match_the_groups():
    named, optimizer = grouped()
    single = optim.SGD(list(make_params("float32").values()), lr=0.1)
    with pytest.raises(ValueError, match="one parameter group.*has 2"):
        optimizer.load_state_dict(single.state_dict())
    with pytest.raises(ValueError, match="2 parameter group"):
        single.load_state_dict(optimizer.state_dict())
    saved = optimizer.state_dict()
    saved["param_groups"][0]["params"] = [1]
    with pytest.raises(ValueError, match=r"param_groups\[0\].*\[1\].*\[0\]"):
        optimizer.load_state_dict(saved)
    saved = optimizer.state_dict()
    saved["param_groups"][1]["momentum"] = float("nan")
    with pytest.raises(ValueError, match=r"param_groups\[1\].*momentum.*nan"):
        optimizer.load_state_dict(saved)
    assert optimizer.param_groups[1]["momentum"] == 0.9


def test_group_values_read_and_set_through_the_optimizer():
    named, optimizer = grouped()
    assert optimizer.momentum == 0.9
    with pytest.raises(AttributeError, match=r"lr differs.*param_groups\[i\]\['lr'\]"):
        optimizer.lr
    optimizer.lr = 0.3
    assert [g["lr"] for g in optimizer.param_groups] == [0.3, 0.3]
    assert [g["initial_lr"] for g in optimizer.param_groups] == [0.02, 0.1]
    with pytest.raises(ValueError, match="momentum"):
        optimizer.momentum = -1.0
    assert optimizer.momentum == 0.9
    assert optimizer.defaults == {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "nesterov": False,
                                  "weight_decay": 0.0}


def test_mindspore_order_params_sets_the_gradient_order():
    named = make_params("float32")
    optimizer = optim.Momentum([{"params": [named["b"]], "lr": 0.01}, {"params": [named["W"]]},
                                {"order_params": [named["W"], named["b"]]}], learning_rate=0.1, momentum=0.9)
    assert optimizer.parameters == [named["W"], named["b"]]
    assert [g["lr"] for g in optimizer.param_groups] == [0.01, 0.1]
    unordered = optim.Momentum([{"params": [named["b"]]}, {"params": [named["W"]]}], 0.1, 0.9)
    assert unordered.parameters == [named["b"], named["W"]]


def test_momentum_spares_beta_and_gamma_from_weight_decay_as_mindspore():
    w, gamma, beta = (sg.Parameter(np.ones(2, np.float32), name=n) for n in ("dense.weight", "bn.gamma", "bn.beta"))
    optimizer = optim.Momentum([w, gamma, beta], learning_rate=0.1, momentum=0.0, weight_decay=0.5)
    optimizer([np.zeros(2, np.float32)] * 3)
    np.testing.assert_allclose(w.numpy(), 0.95)
    np.testing.assert_array_equal(gamma.numpy(), 1.0)
    np.testing.assert_array_equal(beta.numpy(), 1.0)
    assert optimizer.parameters == [w, gamma, beta]
    groups = optim.Momentum([{"params": [w, gamma]}], 0.1, 0.0, weight_decay=0.5)  # grouped: decayed, as MindSpore
    groups([np.zeros(2, np.float32)] * 2)
    np.testing.assert_allclose(gamma.numpy(), 0.95)


def test_a_parameter_in_two_groups_is_refused():
    named = make_params("float32")
    with pytest.raises(ValueError, match="'W' is given twice"):
        optim.Adam([{"params": [named["W"]]}, {"params": [named["W"], named["b"]]}])


# ----- schedules and clipping -----


@pytest.mark.parametrize("make", [lambda o: optim.OneCycleLR(o, max_lr=0.5, total_steps=10),
                                  lambda o: optim.MultiStepLR(o, [2, 4]), lambda o: optim.ExponentialLR(o, 0.9)])
def test_schedule_state_dict_resumes(make):
    optimizer = optim.SGD([sg.Parameter(np.zeros(1), name="w")], lr=0.1, momentum=0.9)
    schedule = make(optimizer)
    for _ in range(4):
        schedule.step()
    fresh_optimizer = optim.SGD([sg.Parameter(np.zeros(1), name="w")], lr=0.1, momentum=0.9)
    fresh = make(fresh_optimizer)
    fresh.load_state_dict(schedule.state_dict())
    schedule.step()
    fresh.step()
    assert fresh_optimizer.lr == optimizer.lr and fresh_optimizer.momentum == optimizer.momentum


def test_one_cycle_refuses_to_step_beyond_total_steps():
    schedule = optim.OneCycleLR(optim.SGD([sg.Parameter(np.zeros(1), name="w")], lr=0.1), max_lr=1.0,
                                total_steps=3)
    for _ in range(3):
        schedule.step()
    with pytest.raises(ValueError, match="stepped 4 times.*total_steps=3"):
        schedule.step()
    assert schedule.last_epoch == 3


def test_plateau_state_dict_resumes():
    def run(metrics, state=None):
        optimizer = optim.SGD([sg.Parameter(np.zeros(1), name="w")], lr=1.0)
        schedule = optim.ReduceLROnPlateau(optimizer, factor=0.5, patience=1, cooldown=1)
        if state is not None:
            optimizer.lr, _ = state[1], schedule.load_state_dict(state[0])
        for m in metrics:
            schedule.step(m)
        return schedule, optimizer

    metrics = [3.0, 3.0, 3.0, 2.0, 2.0, 2.0, 2.0, 1.0]
    straight, straight_opt = run(metrics)
    first, first_opt = run(metrics[:4])
    resumed, resumed_opt = run(metrics[4:], json.loads(json.dumps([first.state_dict(), first_opt.lr])))
    assert resumed.state_dict() == straight.state_dict() and resumed_opt.lr == straight_opt.lr == 0.25
    assert first.state_dict()["best"] == 2.0 and run([])[0].state_dict()["best"] == float("inf")


def test_clipping_leaves_the_gradients_alone_and_keeps_dtypes():
    grads = (sg.Tensor(np.array([3.0, 0.0], np.float32)), np.array([[4.0]]))
    before = [g.numpy().copy() if isinstance(g, sg.Tensor) else g.copy() for g in grads]
    clipped, norm = optim.clip_grad_norm_(grads, max_norm=10.0)
    assert float(norm) == 5.0 and norm.dtype == np.float64
    assert [g.dtype for g in clipped] == [np.float32, np.float64]
    np.testing.assert_array_equal(clipped[0].numpy(), before[0])  # below max_norm: unchanged
    small = optim.clip_by_global_norm(grads, clip_norm=1.0)
    np.testing.assert_allclose(small[1].numpy(), [[0.8]])
    np.testing.assert_allclose(optim.clip_by_global_norm(grads, 1.0, use_norm=10.0)[0].numpy(), [0.3, 0.0])
    assert optim.clip_grad_norm_(grads, 1.0, norm_type="inf")[1].item() == 4.0
    for g, b in zip(grads, before):
        np.testing.assert_array_equal(g.numpy() if isinstance(g, sg.Tensor) else g, b)
    nan_grads = (np.array([np.nan, 1.0]),)
    assert np.isnan(optim.clip_grad_norm_(nan_grads, 1.0)[0][0].numpy()).all()
    with pytest.raises(RuntimeError, match="error_if_nonfinite=False"):
        optim.clip_grad_norm_(nan_grads, 1.0, error_if_nonfinite=True)
