"""
Binary and multi-label cross-entropy
====================================

When an input can carry several labels at once, each label gets its own sigmoid and its own binary
cross-entropy, ℓ = −[t·log p + (1 − t)·log(1 − p)], averaged over the labels: the probabilities do not compete
and need not sum to 1. A softmax, by contrast, shares one unit of probability among the classes, so two
classes can never both be above ½.
"""

import matplotlib.pyplot as plt
import numpy as np

import softgrad as sg
from softgrad import nn, ops
from softgrad.data import DataLoader, load_digits

# %%
# The worked example: target (0, 1, 1), prediction (0.1, 0.7, 0.8)
# ------------------------------------------------------------------
# Per label: −log 0.9 = 0.105, −log 0.7 = 0.357, −log 0.8 = 0.223; their mean is 0.228.

t = np.array([0.0, 1.0, 1.0])
p = np.array([0.1, 0.7, 0.8])
per_label = ops.binary_cross_entropy(p, t, reduction="none").numpy()
mean = ops.binary_cross_entropy(p, t).item()
z = np.log(p / (1 - p))  # the logits whose sigmoid is p
from_logits = ops.binary_cross_entropy_with_logits(z, t).item()
gradient = sg.grad(lambda logits: ops.binary_cross_entropy_with_logits(logits, t, reduction="sum"))(z).numpy()
print("per-label BCE:", per_label.round(4), " mean:", round(mean, 4), " from the logits:", round(from_logits, 4))
print("∂(Σ BCE)/∂z = σ(z) − t:", gradient.round(4))
assert np.allclose(per_label, [-np.log(0.9), -np.log(0.7), -np.log(0.8)], rtol=1e-12)
assert np.isclose(mean, 0.22839, atol=1e-5) and np.isclose(from_logits, mean, rtol=1e-12)
assert np.allclose(gradient, p - t, rtol=1e-12)  # the same p − t as softmax cross-entropy

fig, ax = plt.subplots(figsize=(7, 4))
labels = np.arange(3)
ax.bar(labels - 0.2, t, 0.4, color="tab:green", label="target t")
ax.bar(labels + 0.2, p, 0.4, color="tab:purple", label="prediction p = σ(z)")
for k in labels:
    ax.annotate(f"BCE = {per_label[k]:.3f}", (k, max(t[k], p[k]) + 0.03), ha="center")
ax.set_xticks(labels, [f"label {k}" for k in labels])
ax.set_ylim(0, 1.2)
ax.set_ylabel("probability that the label is present")
ax.set_xlabel("label")
ax.set_title(f"Multi-label BCE of (0.1, 0.7, 0.8) against (0, 1, 1): mean {mean:.3f} nats\n"
             f"(p sums to {p.sum():.1f}: each label is its own yes/no question)")
ax.legend(loc="upper left")
fig.tight_layout()
plt.show()

# %%
# A multi-label task: pictures holding one digit or two
# -----------------------------------------------------
# Each picture is 8×16 pixels: one 8×8 digit beside a blank half, or two digits of different classes side by
# side. Its label is the set of digits present, a 10-entry multi-hot vector. One small MLP is trained twice:
# with sigmoid + BCE on the multi-hot target, and with softmax cross-entropy on the target spread evenly over
# the digits present (1, or ½ and ½). Sigmoids decide each digit on its own; a softmax has to be told how many
# digits to pick.


def digit_pictures(images, labels, seed, copies=1):
    """8×16 pictures (flattened to 128) of one digit beside a blank half, or two digits of different classes
    (each half the time), made ``copies`` times over; and their (N, 10) multi-hot labels."""
    rng = np.random.default_rng(seed)
    images, labels = np.tile(images, (copies, 1)).reshape(-1, 8, 8), np.tile(labels, copies)
    partner = rng.permutation(len(labels))
    keep = labels != labels[partner]
    first, second = np.flatnonzero(keep), partner[keep]
    single = rng.random(len(first)) < 0.5
    halves = [images[first], np.where(single[:, None, None], 0, images[second])]
    swap = rng.random(len(first)) < 0.5  # the lone digit on either side
    pixels = np.where(swap[:, None, None], np.concatenate(halves[::-1], axis=2), np.concatenate(halves, axis=2))
    targets = np.zeros((len(first), 10), np.float32)
    targets[np.arange(len(first)), labels[first]] = 1
    targets[np.arange(len(first))[~single], labels[second][~single]] = 1
    return pixels.reshape(len(first), -1), targets


def train(loss_fn, x, targets, epochs=10):
    """An MLP 128-64-10 trained by Adam on ``loss_fn(logits, targets)``; returns the model."""
    init = sg.random.Generator(0)
    model = nn.SequentialCell(nn.Dense(128, 64, activation="relu", generator=init), nn.Dense(64, 10, generator=init))
    optimizer = sg.optim.Adam(model.trainable_params(), lr=0.005)
    step = sg.value_and_grad(lambda xb, tb: loss_fn(model(xb), tb), None, weights=optimizer.parameters)
    for _ in range(epochs):
        for xb, tb in DataLoader((x, targets), batch_size=64, shuffle=True, seed=0):
            optimizer(step(xb, tb)[1])
    return model


def exact_sets(predicted, truth):
    """The fraction of pictures whose predicted set of digits is exactly the true one."""
    return float(np.mean((predicted == truth).all(axis=1)))


x_train, y_train, x_test, y_test = load_digits()
pictures, multi_hot = digit_pictures(x_train, y_train, seed=0, copies=8)
test_pictures, test_multi_hot = digit_pictures(x_test, y_test, seed=1)
sigmoid_model = train(ops.binary_cross_entropy_with_logits, pictures, multi_hot)
softmax_model = train(ops.cross_entropy, pictures, multi_hot / multi_hot.sum(axis=1, keepdims=True))

sigmoid_p = ops.sigmoid(sigmoid_model(test_pictures)).numpy()
softmax_p = ops.softmax(softmax_model(test_pictures), axis=1).numpy()
truth = test_multi_hot.astype(bool)
pairs = truth.sum(axis=1) == 2
top_two = np.zeros_like(truth)
np.put_along_axis(top_two, np.argsort(softmax_p, axis=1)[:, -2:], True, axis=1)
rules = {"sigmoid + BCE, each label > ½": sigmoid_p > 0.5,
         "softmax + CE, each label > ½": softmax_p > 0.5,
         "softmax + CE, the top two": top_two}
print(f"{len(truth)} test pictures ({pairs.sum()} with two digits): the exact set of digits found")
print(f"{'':32s} {'all':>6s} {'one digit':>10s} {'two digits':>11s}")
scores = {}
for rule, predicted in rules.items():
    scores[rule] = [exact_sets(predicted[m], truth[m]) for m in (slice(None), ~pairs, pairs)]
    print(f"{rule:32s} " + " ".join(f"{100 * v:{w}.1f}" for v, w in zip(scores[rule], (5, 9, 10))) + "  %")
sigmoid_all, sigmoid_one, sigmoid_two = scores["sigmoid + BCE, each label > ½"]
assert sigmoid_one > 0.85 and sigmoid_two > 0.6  # one rule, whatever the number of digits
assert scores["softmax + CE, each label > ½"][2] == 0  # two probabilities summing to ≤ 1 cannot both pass ½
assert scores["softmax + CE, the top two"][1] == 0  # and a fixed count is wrong for the other pictures
assert sigmoid_all > max(scores["softmax + CE, each label > ½"][0], scores["softmax + CE, the top two"][0])
assert np.allclose(softmax_p.sum(axis=1), 1, atol=1e-5)

# %%
# Four test pictures and what each model says
# -------------------------------------------

fig, axes = plt.subplots(2, 4, figsize=(13, 5.5), gridspec_kw={"height_ratios": [1, 1.6]})
shown = np.concatenate([np.flatnonzero(~pairs)[:2], np.flatnonzero(pairs)[:2]])
for column, i in enumerate(shown):
    axes[0, column].imshow(test_pictures[i].reshape(8, 16), cmap="gray_r")
    found = np.flatnonzero(sigmoid_p[i] > 0.5).tolist()
    axes[0, column].set_title(f"digits {np.flatnonzero(truth[i]).tolist()}: sigmoids find {found}", fontsize=10)
    axes[0, column].axis("off")
    ax = axes[1, column]
    ax.bar(np.arange(10) - 0.2, sigmoid_p[i], 0.4, color="tab:blue", label="sigmoid + BCE")
    ax.bar(np.arange(10) + 0.2, softmax_p[i], 0.4, color="tab:red", label="softmax + CE")
    ax.axhline(0.5, color="black", ls="--", lw=1, label="½")
    ax.set_xticks(range(10))
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("digit")
    ax.set_ylabel("probability present")
    ax.set_title("per-label probabilities", fontsize=10)
fig.legend(*axes[1, 0].get_legend_handles_labels(), loc="lower center", ncol=3)
fig.suptitle("Sigmoids answer one yes/no question per digit, for one digit or two; "
             "softmax splits one unit of probability among them")
fig.tight_layout(rect=(0, 0.06, 1, 1))
plt.show()
