"""Peer "torch": PyTorch eager on the CPU (idiomatic use: F.cross_entropy,
nn.Linear + optim.SGD, torch.func for second order).

Run by bench/run.py; by hand: ``python bench/peers/torch_peer.py --workload ce``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import workloads  # noqa: E402
from common import require  # noqa: E402


def setup(ctx):
    torch = require("torch")
    torch.set_num_threads(ctx.threads)
    return {"version": torch.__version__, "threads": torch.get_num_threads(),
            "impl": TorchImpl(torch)}


class TorchImpl:
    def __init__(self, torch):
        self.torch = torch
        import torch.nn.functional as F
        self.F = F

    def ce(self, logits, labels):
        torch, F = self.torch, self.F
        z = torch.from_numpy(logits)
        y = torch.from_numpy(labels)

        def step():
            zz = z.detach().requires_grad_(True)
            loss = F.cross_entropy(zz, y, reduction="mean")
            (g,) = torch.autograd.grad(loss, zz)
            return loss, g

        return step, workloads.tensor_loss_and_grad

    def mlp(self, params, lr):
        return _TorchMLP(self.torch, params, lr)

    def cnn(self, params, lr, case):
        return _TorchCNN(self.torch, params, lr, case)

    def overhead(self, x0, chain):
        torch = self.torch
        x_init = torch.from_numpy(x0)
        steps = workloads.chain_steps(chain, torch.sin, torch.exp)

        def step():
            x0_ = x_init.detach().requires_grad_(True)
            s = workloads.run_chain(steps, x0_).sum()
            (g,) = torch.autograd.grad(s, x0_)
            return s, g

        return step, workloads.tensor_loss_and_grad

    def _f(self, a):
        torch = self.torch
        return lambda x: torch.logsumexp(a @ x, dim=0)

    def hvp(self, a, x, v):
        from torch.func import grad, jvp
        torch = self.torch
        f = self._f(torch.from_numpy(a))
        xt, vt = torch.from_numpy(x), torch.from_numpy(v)

        def step():
            return jvp(grad(f), (xt,), (vt,))[1]

        return step, workloads.tensor_numpy

    def hessian(self, a, x):
        from torch.func import hessian
        torch = self.torch
        h = hessian(self._f(torch.from_numpy(a)))
        xt = torch.from_numpy(x)
        return (lambda: h(xt)), workloads.tensor_numpy


class _TorchMLP(workloads.MLPTrainer):
    def __init__(self, torch, params, lr):
        self.torch = torch
        nn = torch.nn
        sizes = workloads.MLP_SIZES
        self.model = nn.Sequential(
            nn.Linear(sizes[0], sizes[1]), nn.ReLU(),
            nn.Linear(sizes[1], sizes[2]), nn.ReLU(),
            nn.Linear(sizes[2], sizes[3]),
        )
        linears = [m for m in self.model if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for lin, (w, b) in zip(linears, workloads.linear_init(params)):
                lin.weight.copy_(torch.from_numpy(w))
                lin.bias.copy_(torch.from_numpy(b))
        self.linears = linears
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr)
        self.loss_fn = nn.CrossEntropyLoss()

    def grads(self, x, y):
        torch = self.torch
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        out = []
        for lin in self.linears:
            out += [lin.weight.grad.numpy().T.copy(), lin.bias.grad.numpy().copy()]
        self.opt.zero_grad(set_to_none=True)
        return float(loss.item()), out

    def step(self, x, y):
        torch = self.torch
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        self.opt.step()


class _TorchCNN(workloads.CNNTrainer):
    """``layers``: ``nn.Conv2d``, ``nn.MaxPool2d``, ``nn.Linear`` in an ``nn.Sequential`` with ``optim.SGD``;
    ``ops``: the same net from ``F.conv2d``, ``F.relu``, ``F.max_pool2d``, ``F.linear`` on leaf tensors."""

    def __init__(self, torch, params, lr, case):
        nn, F = torch.nn, torch.nn.functional
        self.torch, self.lr = torch, lr
        self.model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                                   nn.MaxPool2d(2), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(),
                                   nn.Linear(128, 10))
        self.model.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()
                                    for k in [k.replace("conv1", "0").replace("conv2", "2")
                                              .replace("fc1", "6").replace("fc2", "8")]})
        self.params = [p for _, p in self.model.named_parameters()]
        if case == "ops":
            w1, b1, w2, b2, w3, b3, w4, b4 = self.params

            def forward(x):
                h = F.relu(F.conv2d(x, w1, b1))
                h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2)), 2)
                return F.linear(F.relu(F.linear(h.flatten(1), w3, b3)), w4, b4)
            self.forward = forward
            self.note = "F.conv2d, F.max_pool2d, F.linear + optim.SGD"
        else:
            self.forward = self.model
            self.note = "nn.Conv2d, nn.MaxPool2d, nn.Linear + optim.SGD"
        self.opt = torch.optim.SGD(self.params, lr=lr)
        self.loss_fn = nn.CrossEntropyLoss()

    def _backward(self, x, y):
        torch = self.torch
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.forward(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        return loss

    def grads(self, x, y):
        loss = self._backward(x, y)
        out = [p.grad.numpy().copy() for p in self.params]
        self.opt.zero_grad(set_to_none=True)
        return float(loss.item()), out

    def step(self, x, y):
        self._backward(x, y)
        self.opt.step()


if __name__ == "__main__":
    workloads.main("torch", setup)
