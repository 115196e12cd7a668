"""Reference trajectories of torch.optim (SGD, Adam, AdamW) and torch.optim.lr_scheduler for
tests/test_optim.py, written to tests/golden/optim.npz.

The problem: loss(W, b) = mean((tanh(X W + b) − Y)²), with X, Y, W₀, b₀ stored in the file. For each
configuration and dtype, the file holds W and b after 0..STEPS steps; for each schedule, the learning rate
after 0..SCHEDULE_STEPS scheduler steps. Configurations travel as JSON in the entry ``configs``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from softgrad._files import atomic_open

STEPS = 8
SCHEDULE_STEPS = 12
OPTIMIZERS = {
    "sgd": ("SGD", {"lr": 0.1}),
    "sgd_momentum": ("SGD", {"lr": 0.1, "momentum": 0.9}),
    "sgd_dampening": ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}),
    "sgd_nesterov_decay": ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    "sgd_decay": ("SGD", {"lr": 0.05, "weight_decay": 0.1}),
    "adam": ("Adam", {"lr": 0.01}),
    "adam_decay_amsgrad": ("Adam", {"lr": 0.01, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.1,
                                    "amsgrad": True}),
    "adamw": ("AdamW", {"lr": 0.01}),
    "adamw_amsgrad": ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
}
SCHEDULES = {
    "step": ("StepLR", {"step_size": 3, "gamma": 0.5}),
    "cosine": ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.001}),
    "linear": ("LinearLR", {"start_factor": 0.25, "total_iters": 4}),
    "warmup_cosine": ("SequentialLR", {"schedulers": [["LinearLR", {"start_factor": 0.1, "total_iters": 3}],
                                                      ["CosineAnnealingLR", {"T_max": 8}]],
                                       "milestones": [3]}),
}
SCHEDULE_BASE_LR = 0.1


def problem() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240607)
    return {"X": rng.standard_normal((16, 4)), "Y": rng.uniform(-0.5, 0.5, (16, 3)),
            "W0": rng.standard_normal((4, 3)) * 0.5, "b0": rng.standard_normal(3) * 0.1}


def _trajectory(torch, data, class_name, kwargs, dtype):
    torch_dtype = {"float64": torch.float64, "float32": torch.float32}[dtype]
    X, Y = (torch.tensor(data[k], dtype=torch_dtype) for k in ("X", "Y"))
    W = torch.tensor(data["W0"], dtype=torch_dtype, requires_grad=True)
    b = torch.tensor(data["b0"], dtype=torch_dtype, requires_grad=True)
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    optimizer = getattr(torch.optim, class_name)([W, b], foreach=False, **kwargs)
    Ws, bs = [W.detach().numpy().copy()], [b.detach().numpy().copy()]
    for _ in range(STEPS):
        optimizer.zero_grad()
        ((torch.tanh(X @ W + b) - Y) ** 2).mean().backward()
        optimizer.step()
        Ws.append(W.detach().numpy().copy())
        bs.append(b.detach().numpy().copy())
    return np.stack(Ws), np.stack(bs)


def _schedule(torch, class_name, kwargs):
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=SCHEDULE_BASE_LR)
    scheduler_class = getattr(torch.optim.lr_scheduler, class_name)
    if class_name == "SequentialLR":
        children = [getattr(torch.optim.lr_scheduler, name)(optimizer, **child) for name, child in kwargs["schedulers"]]
        scheduler = scheduler_class(optimizer, children, milestones=kwargs["milestones"])
    else:
        scheduler = scheduler_class(optimizer, **kwargs)
    lrs = [optimizer.param_groups[0]["lr"]]
    for _ in range(SCHEDULE_STEPS):
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    return np.array(lrs)


def generate(out_dir: Path) -> list[Path]:
    import torch

    data = problem()
    arrays = dict(data)
    for name, (class_name, kwargs) in OPTIMIZERS.items():
        for dtype in ("float64", "float32"):
            arrays[f"{name}__{dtype}__W"], arrays[f"{name}__{dtype}__b"] = _trajectory(
                torch, data, class_name, kwargs, dtype)
    for name, (class_name, kwargs) in SCHEDULES.items():
        arrays[f"schedule__{name}"] = _schedule(torch, class_name, kwargs)
    configs = {"optimizers": OPTIMIZERS, "schedules": SCHEDULES, "schedule_base_lr": SCHEDULE_BASE_LR,
               "steps": STEPS, "torch": torch.__version__}
    arrays["configs"] = np.array(json.dumps(configs))
    path = Path(out_dir) / "optim.npz"
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)
    return [path]
