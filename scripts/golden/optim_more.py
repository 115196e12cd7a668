"""Reference trajectories of torch.optim for the optimizers, parameter groups, schedules and gradient clipping
added after optim.py (tests/test_optim_more.py), written to tests/golden/optim_more.npz.

The problem is optim.py's: loss(W, b) = mean((tanh(X W + b) − Y)²), from the same X, Y, W₀, b₀ (stored in
optim.npz). Each trajectory holds W and b after 0..STEPS steps, in float64 and float32: softgrad's optimizer
(class and arguments under softgrad's names: MindSpore's Momentum is PyTorch's SGD) against PyTorch's, with
parameter groups (``params`` names "W" and "b"), a scheduler stepped after every step, and gradients clipped
before it. Each schedule holds the learning rate (and, for OneCycleLR, the momentum) of every parameter group
after 0..SCHEDULE_STEPS steps; ReduceLROnPlateau is fed the fixed METRICS.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from golden.optim import problem
from softgrad._files import atomic_open

STEPS = 8
SCHEDULE_STEPS = 12
METRICS = [5.0, 4.0, 4.0, 3.9999, 4.1, 4.0, 3.0, 3.0, 3.0, 3.0, 2.9, 2.95, 2.95]


def _run(optimizer, torch_class, kwargs, groups=None, schedule=None, clip=None, grad_scale=1.0):
    return {"optimizer": optimizer, "torch": [torch_class, kwargs], "groups": groups, "schedule": schedule,
            "clip": clip, "grad_scale": grad_scale}


TRAJECTORIES = {
    "momentum": _run(["Momentum", {"learning_rate": 0.1, "momentum": 0.9}], "SGD", {"lr": 0.1, "momentum": 0.9}),
    "momentum_nesterov_decay_loss_scale": _run(
        ["Momentum", {"learning_rate": 0.1, "momentum": 0.8, "weight_decay": 0.05, "loss_scale": 128.0,
                      "use_nesterov": True}],
        "SGD", {"lr": 0.1, "momentum": 0.8, "weight_decay": 0.05, "nesterov": True}, grad_scale=128.0),
    "rmsprop": _run(["RMSprop", {}], "RMSprop", {}),
    "rmsprop_centered_momentum_decay": _run(
        ["RMSprop", {"lr": 0.005, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.1, "momentum": 0.5, "centered": True}],
        "RMSprop", {"lr": 0.005, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.1, "momentum": 0.5, "centered": True}),
    "rmsprop_maximize": _run(["RMSprop", {"lr": 0.001, "maximize": True}], "RMSprop",
                             {"lr": 0.001, "maximize": True}),
    "adagrad": _run(["Adagrad", {}], "Adagrad", {}),
    "adagrad_options": _run(
        ["Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.5,
                     "eps": 1e-8}],
        "Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-8}),
    "adadelta": _run(["Adadelta", {}], "Adadelta", {}),
    "adadelta_options": _run(["Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-4, "weight_decay": 0.1, "maximize": True}],
                             "Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-4, "weight_decay": 0.1, "maximize": True}),
    # parameter groups, PyTorch's form and MindSpore's (order_params), for the old optimizers too
    "sgd_groups": _run(["SGD", {"lr": 0.1, "momentum": 0.9}], "SGD", {"lr": 0.1, "momentum": 0.9},
                       groups=[{"params": ["W"], "lr": 0.02, "weight_decay": 0.1}, {"params": ["b"]}]),
    "adam_groups": _run(["Adam", {"lr": 0.01}], "Adam", {"lr": 0.01},
                        groups=[{"params": ["b"], "lr": 0.05, "betas": [0.5, 0.9]}, {"params": ["W"],
                                                                                     "weight_decay": 0.1}]),
    "adamw_groups": _run(["AdamW", {"lr": 0.01}], "AdamW", {"lr": 0.01},
                         groups=[{"params": ["W"], "weight_decay": 0.5}, {"params": ["b"], "lr": 0.03,
                                                                          "weight_decay": 0.0}]),
    "momentum_groups_order_params": _run(
        ["Momentum", {"learning_rate": 0.1, "momentum": 0.9}], "SGD", {"lr": 0.1, "momentum": 0.9},
        groups=[{"params": ["b"], "lr": 0.01}, {"params": ["W"], "weight_decay": 0.01},
                {"order_params": ["W", "b"]}]),
    "rmsprop_groups": _run(["RMSprop", {"lr": 0.01}], "RMSprop", {"lr": 0.01},
                           groups=[{"params": ["W"], "centered": True, "alpha": 0.9}, {"params": ["b"], "lr": 0.001}]),
    "adagrad_groups": _run(["Adagrad", {"lr": 0.1}], "Adagrad", {"lr": 0.1},
                           groups=[{"params": ["W"], "lr_decay": 0.1}, {"params": ["b"], "lr": 0.3}]),
    "adadelta_groups": _run(["Adadelta", {}], "Adadelta", {},
                            groups=[{"params": ["W"], "rho": 0.5}, {"params": ["b"], "lr": 0.1}]),
    # schedules driving a trajectory (each group scaled), and gradients clipped before each step
    "sgd_groups_multistep": _run(["SGD", {"lr": 0.2, "momentum": 0.5}], "SGD", {"lr": 0.2, "momentum": 0.5},
                                 groups=[{"params": ["W"], "lr": 0.05}, {"params": ["b"]}],
                                 schedule=["MultiStepLR", {"milestones": [2, 5], "gamma": 0.3}]),
    "adam_onecycle": _run(["Adam", {"lr": 0.01}], "Adam", {"lr": 0.01},
                          schedule=["OneCycleLR", {"max_lr": 0.05, "total_steps": 10}]),
    "sgd_groups_onecycle_three_phase": _run(
        ["SGD", {"lr": 0.1, "momentum": 0.9}], "SGD", {"lr": 0.1, "momentum": 0.9},
        groups=[{"params": ["W"]}, {"params": ["b"]}],
        schedule=["OneCycleLR", {"max_lr": [0.2, 0.05], "total_steps": 9, "three_phase": True,
                                 "anneal_strategy": "linear"}]),
    "rmsprop_exponential": _run(["RMSprop", {"lr": 0.01, "momentum": 0.5}], "RMSprop", {"lr": 0.01, "momentum": 0.5},
                                schedule=["ExponentialLR", {"gamma": 0.7}]),
    "sgd_clip_norm": _run(["SGD", {"lr": 0.5, "momentum": 0.9}], "SGD", {"lr": 0.5, "momentum": 0.9},
                          clip=["clip_grad_norm_", {"max_norm": 0.05}]),
    "adam_clip_inf_norm": _run(["Adam", {"lr": 0.05}], "Adam", {"lr": 0.05},
                               clip=["clip_grad_norm_", {"max_norm": 0.02, "norm_type": "inf"}]),
    "sgd_clip_norm_3": _run(["SGD", {"lr": 0.5}], "SGD", {"lr": 0.5},
                            clip=["clip_grad_norm_", {"max_norm": 0.03, "norm_type": 3.0}]),
    "momentum_clip_by_global_norm": _run(["Momentum", {"learning_rate": 0.5, "momentum": 0.9}], "SGD",
                                         {"lr": 0.5, "momentum": 0.9},
                                         clip=["clip_by_global_norm", {"clip_norm": 0.05}]),
}
SCHEDULES = {
    "exponential": ("ExponentialLR", {"gamma": 0.8}),
    "multistep": ("MultiStepLR", {"milestones": [5, 2, 9, 5], "gamma": 0.5}),
    "onecycle": ("OneCycleLR", {"max_lr": 0.5, "total_steps": 12}),
    "onecycle_linear_three_phase": ("OneCycleLR", {"max_lr": [0.5, 0.2], "epochs": 4, "steps_per_epoch": 3,
                                                   "pct_start": 0.25, "anneal_strategy": "linear",
                                                   "three_phase": True, "base_momentum": 0.8,
                                                   "max_momentum": [0.9, 0.99], "div_factor": 10.0,
                                                   "final_div_factor": 100.0}),
    "onecycle_no_momentum": ("OneCycleLR", {"max_lr": 1.0, "total_steps": 20, "pct_start": 0.5,
                                            "cycle_momentum": False}),
    "plateau": ("ReduceLROnPlateau", {"patience": 1}),
    "plateau_max_abs_cooldown": ("ReduceLROnPlateau", {"mode": "max", "factor": 0.5, "patience": 0,
                                                       "threshold": 0.5, "threshold_mode": "abs", "cooldown": 2,
                                                       "min_lr": [0.01, 0.02]}),
    "plateau_min_lr_eps": ("ReduceLROnPlateau", {"factor": 0.2, "patience": 0, "min_lr": 0.003, "eps": 1e-3}),
}
SCHEDULE_LRS = [0.1, 0.04]  # two parameter groups


def _grads_clipped(torch, params, clip):
    kind, kwargs = clip
    if kind == "clip_grad_norm_":
        norm_type = float(kwargs.get("norm_type", 2.0))
        torch.nn.utils.clip_grad_norm_(params, kwargs["max_norm"], norm_type=norm_type, foreach=False)
        return
    norm = torch.sqrt(sum((p.grad ** 2).sum() for p in params))  # MindSpore's x·c / max(‖x‖, c)
    for p in params:
        p.grad.mul_(kwargs["clip_norm"] / torch.maximum(norm, torch.tensor(kwargs["clip_norm"], dtype=norm.dtype)))


def _torch_groups(groups, named):
    if groups is None:
        return list(named.values())
    return [dict(group, params=[named[n] for n in group["params"]], **({"betas": tuple(group["betas"])}
                                                                       if "betas" in group else {}))
            for group in groups if "order_params" not in group]


def _trajectory(torch, data, run, dtype):
    torch_dtype = {"float64": torch.float64, "float32": torch.float32}[dtype]
    X, Y = (torch.tensor(data[k], dtype=torch_dtype) for k in ("X", "Y"))
    named = {"W": torch.tensor(data["W0"], dtype=torch_dtype, requires_grad=True),
             "b": torch.tensor(data["b0"], dtype=torch_dtype, requires_grad=True)}
    torch_class, kwargs = run["torch"]
    optimizer = getattr(torch.optim, torch_class)(_torch_groups(run["groups"], named), foreach=False, **kwargs)
    schedule = None
    if run["schedule"] is not None:
        schedule = getattr(torch.optim.lr_scheduler, run["schedule"][0])(optimizer, **run["schedule"][1])
    Ws, bs = [named["W"].detach().numpy().copy()], [named["b"].detach().numpy().copy()]
    for _ in range(STEPS):
        optimizer.zero_grad()
        ((torch.tanh(X @ named["W"] + named["b"]) - Y) ** 2).mean().backward()
        if run["clip"] is not None:
            _grads_clipped(torch, list(named.values()), run["clip"])
        optimizer.step()
        if schedule is not None:
            schedule.step()
        Ws.append(named["W"].detach().numpy().copy())
        bs.append(named["b"].detach().numpy().copy())
    return np.stack(Ws), np.stack(bs)


def _schedule(torch, class_name, kwargs):
    """Rows: step 0..SCHEDULE_STEPS; columns: each group's lr, then each group's momentum (beta1 for Adam)."""
    params = [torch.zeros(1, requires_grad=True) for _ in SCHEDULE_LRS]
    optimizer = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, SCHEDULE_LRS)], lr=0.1,
                                momentum=0.9)
    scheduler = getattr(torch.optim.lr_scheduler, class_name)(optimizer, **kwargs)
    rows = []
    for step in range(SCHEDULE_STEPS + 1):
        rows.append([g["lr"] for g in optimizer.param_groups] + [g["momentum"] for g in optimizer.param_groups])
        if step < SCHEDULE_STEPS:
            optimizer.step()
            scheduler.step(METRICS[step]) if class_name == "ReduceLROnPlateau" else scheduler.step()
    return np.array(rows)


def generate(out_dir: Path) -> list[Path]:
    import torch

    data = problem()
    arrays = {}
    for name, run in TRAJECTORIES.items():
        for dtype in ("float64", "float32"):
            arrays[f"{name}__{dtype}__W"], arrays[f"{name}__{dtype}__b"] = _trajectory(torch, data, run, dtype)
    for name, (class_name, kwargs) in SCHEDULES.items():
        arrays[f"schedule__{name}"] = _schedule(torch, class_name, kwargs)
    configs = {"trajectories": TRAJECTORIES, "schedules": SCHEDULES, "schedule_lrs": SCHEDULE_LRS,
               "metrics": METRICS, "steps": STEPS, "torch": torch.__version__}
    arrays["configs"] = np.array(json.dumps(configs))
    path = Path(out_dir) / "optim_more.npz"
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)
    return [path]
