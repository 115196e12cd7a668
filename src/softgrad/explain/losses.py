"""Cross-entropy: its gradient (p − t)/N, why it beats MSE after a sigmoid, and sigmoid + BCE for multi-label
outputs."""

from __future__ import annotations

import numpy as np

import softgrad as sg
from softgrad import nn, ops
from softgrad.data import DataLoader, load_digits


def cross_entropy_gradient(r) -> None:
    """For logits x (N, C), p = softmax(x) and targets t (one-hot of the class indices, or probabilities):
    ∂ mean CE / ∂x = (p − t)/N."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    labels = np.array([0, 2, 1, 2])
    probs = rng.dirichlet(np.ones(3), size=4)
    p = ops.softmax(x, axis=1).numpy()
    pairs = {}
    for kind, target, t in (("class indices", labels, np.eye(3)[labels]), ("probabilities", probs, probs)):
        autodiff = sg.grad(lambda z: ops.cross_entropy(z, target))(x).numpy()
        formula = (p - t) / len(x)
        pairs[kind] = (formula, autodiff)
        r.say(f"{kind}: rows of N·∂CE/∂x (autodiff) and p − t:")
        for i in range(len(x)):
            scaled = np.round(len(x) * autodiff[i], 4).tolist(), np.round(len(x) * formula[i], 4).tolist()
            r.say(f"  sample {i}: {scaled[0]}  vs  {scaled[1]}")
        r.number(f"max |autodiff − (p − t)/N| ({kind})", float(np.abs(autodiff - formula).max()))
    figure = r.figure(6, 5)
    if figure is None:
        return
    ax = figure.subplots()
    for (kind, (formula, autodiff)), marker in zip(pairs.items(), "os"):
        ax.scatter(formula.ravel(), autodiff.ravel(), marker=marker, s=60, alpha=0.7, label=f"targets: {kind}")
    limit = max(np.abs(f).max() for f, _ in pairs.values()) * 1.1
    ax.plot([-limit, limit], [-limit, limit], color="grey", lw=1, label="y = x")
    ax.set(xlabel="(p − t)/N  (the closed form)", ylabel="∂CE/∂x  (autodiff)",
           title="cross-entropy's gradient is (p − t)/N: every entry on the diagonal")
    ax.legend()
    r.save(figure, "diagonal")


def _sigmoid_unit(loss_fn, steps: int, lr: float):
    """a = σ(w·1 + b) from w = b = 2 (a ≈ 0.98, the target is 0), trained by gradient descent on ``loss_fn``:
    per step (loss, a, σ'(z), w, ∂loss/∂w)."""
    w, b = np.array(2.0), np.array(2.0)
    history = []

    def loss(w, b):
        return loss_fn(ops.sigmoid(w + b), np.array(0.0))

    step = sg.value_and_grad(loss, (0, 1))
    for _ in range(steps):
        value, (gw, gb) = step(w, b)
        a = float(ops.sigmoid(w + b))
        history.append((float(value), a, a * (1 - a), float(w), float(gw)))
        w, b = w - lr * gw.numpy(), b - lr * gb.numpy()
    return np.array(history)


def mse_vs_ce(r) -> None:
    """A sigmoid unit started badly wrong (output 0.98, target 0): MSE's gradient 2(a − y)·σ'(z) carries the
    factor σ'(z) = a(1 − a) ≈ 0.02, so it barely moves; cross-entropy's gradient (a − y) does not."""
    steps, lr = 300, 0.15
    runs = {"MSE (a − y)²": _sigmoid_unit(ops.mse_loss, steps, lr),
            "cross-entropy": _sigmoid_unit(ops.binary_cross_entropy, steps, lr)}
    r.say(" step | MSE: output a, σ'(z), ∂/∂w       | CE: output a, σ'(z), ∂/∂w")
    for i in (0, 1, 2, 5, 10, 25, 50, 100, 200, 299):
        m, c = runs["MSE (a − y)²"][i], runs["cross-entropy"][i]
        r.say(f" {i:4d} | {m[1]:.4f}, {m[2]:.4f}, {m[4]:+.4f}     | {c[1]:.4f}, {c[2]:.4f}, {c[4]:+.4f}")
    for name, history in runs.items():
        below = np.nonzero(history[:, 1] < 0.5)[0]
        r.number(f"steps until the output is below 0.5 ({name})", int(below[0]) if below.size else steps)
        r.number(f"output after {steps} steps ({name})", float(history[-1, 1]))
    figure = r.figure(12, 3.8)
    if figure is None:
        return
    loss_ax, output_ax, factor_ax = figure.subplots(1, 3)
    for name, history in runs.items():
        loss_ax.plot(history[:, 0], label=name)
        output_ax.plot(history[:, 1], label=name)
        factor_ax.plot(history[:, 2], label=name)
    loss_ax.set(title="loss", xlabel="step", ylabel="loss")
    output_ax.set(title="output a = σ(w + b); target 0", xlabel="step", ylabel="a")
    factor_ax.set(title="σ′(z) = a(1 − a): MSE's gradient carries it", xlabel="step", ylabel="σ′(z)")
    for ax in (loss_ax, output_ax, factor_ax):
        ax.legend()
    figure.suptitle(f"a sigmoid unit started badly wrong, gradient descent, lr {lr}")
    r.save(figure, "curves")


def _digit_pairs(count: int, seed: int):
    """(images (N, 1, 8, 16), multi-hot labels (N, 10)): two different digits side by side, or (half of them)
    one digit beside a blank — so the number of labels varies, as it does in multi-label data."""
    x, y, _, _ = load_digits(flatten=False)
    rng = np.random.default_rng(seed)
    first, second = rng.integers(0, len(y), count), rng.integers(0, len(y), count)
    keep = y[first] != y[second]
    first, second = first[keep], second[keep]
    single = rng.random(len(first)) < 0.5
    right = np.where(single[:, None, None, None], 0.0, x[second])
    images = np.concatenate([x[first], right], axis=3).astype(np.float32)
    labels = np.zeros((len(first), 10), np.float32)
    labels[np.arange(len(first)), y[first]] = 1
    labels[np.arange(len(first))[~single], y[second][~single]] = 1
    return images, labels


def _fit(loss_fn, images, labels, epochs: int = 15):
    model = nn.SequentialCell(nn.Flatten(), nn.Dense(128, 64, activation="relu", generator=sg.random.Generator(0)),
                              nn.Dense(64, 10, generator=sg.random.Generator(1)))
    optimizer = sg.optim.Adam(model.trainable_params(), lr=3e-3)
    step = sg.value_and_grad(lambda x, t: loss_fn(model(x), t), None, weights=optimizer.parameters)
    loader = DataLoader((images, labels), batch_size=64, shuffle=True, seed=0)
    for _ in range(epochs):
        for x, t in loader:
            optimizer(step(x, t)[1])
    return model


def multi_label(r) -> None:
    """Several labels may be true at once: one sigmoid per class with binary cross-entropy says "each present
    or not"; softmax makes the classes compete for one unit of probability (two present: ½ each at best)."""
    target, prediction = np.array([0.0, 1.0, 1.0]), np.array([0.1, 0.7, 0.8])
    terms = -(target * np.log(prediction) + (1 - target) * np.log(1 - prediction))
    r.say(f"the notes' example: target {target.tolist()}, prediction {prediction.tolist()}")
    r.say(f"  per-class −[y ln p + (1 − y) ln(1 − p)] = {np.round(terms, 5).tolist()}")
    r.number("BCE (mean over classes)", float(ops.binary_cross_entropy(prediction, target)))
    r.number("BCE (sum over classes)", float(ops.binary_cross_entropy(prediction, target, reduction="sum")))
    images, labels = _digit_pairs(3000, seed=0)
    test_images, test_labels = _digit_pairs(600, seed=1)
    sigmoid_model = _fit(ops.binary_cross_entropy_with_logits, images, labels)
    softmax_model = _fit(lambda z, t: ops.cross_entropy(z, t / t.sum(axis=1, keepdims=True)), images, labels)
    sig = ops.sigmoid(sigmoid_model(test_images)).numpy()
    soft = ops.softmax(softmax_model(test_images), axis=1).numpy()
    truth = test_labels > 0.5
    r.say(f"one or two digits side by side (8×16 images from the embedded digits), {len(labels)} to train, "
          f"{len(test_labels)} to test; the predicted set must be exactly the digits present:")
    r.number("sets exactly right, sigmoid + BCE (p > ½)", float(np.mean(((sig > 0.5) == truth).all(axis=1))))
    for cut in (0.25, 0.4):
        r.number(f"sets exactly right, softmax + CE (p > {cut})", float(np.mean(((soft > cut) == truth).all(axis=1))))
    r.number("mean probability of a present digit, sigmoid", float(sig[test_labels > 0.5].mean()))
    r.number("mean probability of a present digit, softmax", float(soft[test_labels > 0.5].mean()))
    _draw_multi_label(r, test_images, test_labels, sig, soft)


def _draw_multi_label(r, images, labels, sig, soft) -> None:
    figure = r.figure(12, 6)
    if figure is None:
        return
    grid = figure.subplots(2, 4)
    for k in range(4):
        present = np.nonzero(labels[k])[0]
        grid[0, k].imshow(images[k, 0], cmap="gray_r")
        grid[0, k].set(title=f"digits present: {present.tolist()}", xticks=[], yticks=[])
        ax = grid[1, k]
        ax.bar(np.arange(10) - 0.2, sig[k], width=0.4, label="sigmoid")
        ax.bar(np.arange(10) + 0.2, soft[k], width=0.4, label="softmax")
        ax.axhline(0.5, color="grey", lw=1, ls="--")
        ax.set(xticks=range(10), ylim=(0, 1), xlabel="class", ylabel="probability" if k == 0 else None)
    grid[1, 0].legend(fontsize=8)
    figure.suptitle("multi-label: sigmoid + BCE says each digit is there or not; softmax's shares depend on how many")
    r.save(figure, "examples")


__all__ = ["cross_entropy_gradient", "mse_vs_ce", "multi_label"]
