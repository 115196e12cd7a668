"""PyTorch's MNIST example network (pytorch/examples, mnist/main.py), ported by changing its imports.

The model is PyTorch's, line for line: conv 1→32 3×3, relu, conv 32→64 3×3, relu, max-pool 2, dropout 0.25,
flatten, linear 9216→128, relu, dropout 0.5, linear 128→10, log_softmax, and nll_loss. The forward pass goes
through ``softgrad.nn.functional`` (imported as ``F``, as in PyTorch); the layers holding Parameters are
softgrad's MindSpore-named cells with PyTorch's settings (``Conv2d(..., pad_mode='valid', has_bias=True)`` is
PyTorch's ``nn.Conv2d``). What changes is the training step: ``value_and_grad`` over the Parameters instead of
``loss.backward()``; and Adam (lr 1e-3) stands in for the example's Adadelta.

    python examples/pytorch_mnist.py --data-dir ../shared/data/mnist --epochs 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import softgrad as sg
import softgrad.nn.functional as F
from softgrad import nn
from softgrad.data import load_mnist


class Net(nn.Cell):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1, pad_mode="valid", has_bias=True)
        self.conv2 = nn.Conv2d(32, 64, 3, 1, pad_mode="valid", has_bias=True)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def construct(self, x: sg.Tensor) -> sg.Tensor:  # PyTorch's forward, with F = softgrad.nn.functional
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = F.dropout(x, 0.25, training=self.training)
        x = sg.ops.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = F.dropout(x, 0.5, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def train_steps(model: Net, optimizer: sg.optim.Optimizer, x: np.ndarray, y: np.ndarray, batch_size: int = 64,
                steps: int | None = None, seed: int = 0, log_every: int = 100) -> list[float]:
    """One epoch (or ``steps`` batches) of shuffled minibatches; the losses of each step."""
    loss_and_grads = sg.value_and_grad(lambda xb, yb: F.nll_loss(model(xb), yb), None,
                                       weights=optimizer.parameters)
    order = np.random.default_rng(seed).permutation(len(x))
    model.set_train(True)
    losses = []
    for step, start in enumerate(range(0, len(x), batch_size)):
        if steps is not None and step >= steps:
            break
        batch = order[start:start + batch_size]
        loss, grads = loss_and_grads(x[batch], y[batch])
        optimizer(grads)
        losses.append(float(loss))
        if log_every and step % log_every == 0:
            print(f"  step {step:4d}  loss {losses[-1]:.4f}", flush=True)
    return losses


def accuracy(model: Net, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    model.set_train(False)
    correct = sum(int((model(x[i:i + batch_size]).numpy().argmax(axis=1) == y[i:i + batch_size]).sum())
                  for i in range(0, len(x), batch_size))
    return correct / len(x)


def main(data_dir: str, epochs: int = 1, batch_size: int = 64, lr: float = 1e-3, seed: int = 1) -> float:
    sg.random.set_seed(seed)  # PyTorch's torch.manual_seed: weights and dropout masks
    x_train, y_train, x_test, y_test = load_mnist(data_dir, flatten=False)
    mean, std = 0.1307, 0.3081  # the example's Normalize((0.1307,), (0.3081,))
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    model = Net()
    optimizer = sg.optim.Adam(model.trainable_params(), lr=lr)
    result = 0.0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        losses = train_steps(model, optimizer, x_train, y_train, batch_size, seed=seed + epoch)
        seconds = time.perf_counter() - start
        result = accuracy(model, x_test, y_test)
        print(f"epoch {epoch}: mean train loss {np.mean(losses):.4f}, test accuracy {100 * result:.2f}%, "
              f"{seconds:.0f} s", flush=True)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    main(args.data_dir, args.epochs, args.batch_size, args.lr)
