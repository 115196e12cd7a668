"""
Training the digit network
==========================

The embedded UCI handwritten digits (1797 pictures of 8×8 pixels: 1437 to train, 360 to test), a small MLP
64-128-10 with a ReLU, softmax cross-entropy, SGD with momentum and a cosine learning-rate schedule, ten epochs: a second or two. This is the loop
behind ``softgrad train``, written out: ``value_and_grad`` over the model's Parameters, then
``optimizer(grads)`` updates them in place.
"""

import matplotlib.pyplot as plt
import numpy as np

import softgrad as sg
from softgrad import nn, ops
from softgrad.data import DataLoader, load_digits

EPOCHS = 10
x_train, y_train, x_test, y_test = load_digits()
print(f"train {x_train.shape}, test {x_test.shape}, pixels in [{x_train.min()}, {x_train.max()}]")

init = sg.random.Generator(0)
model = nn.SequentialCell(nn.Dense(64, 128, activation="relu", weight_init="he_uniform", generator=init),
                          nn.Dense(128, 10, generator=init))
optimizer = sg.optim.SGD(model.trainable_params(), lr=0.05, momentum=0.9)
schedule = sg.optim.CosineAnnealingLR(optimizer, T_max=EPOCHS)  # the rate decays to 0 over the run
loss_and_grads = sg.value_and_grad(lambda x, y: ops.cross_entropy(model(x), y), None, weights=optimizer.parameters)


def evaluate(x, y):
    """(mean cross-entropy, accuracy) of the model on (x, y)."""
    logits = model(x)
    return ops.cross_entropy(logits, y).item(), float(np.mean(logits.numpy().argmax(axis=1) == y))


history = {"train loss": [], "test loss": [], "train accuracy": [], "test accuracy": []}
for epoch in range(1, EPOCHS + 1):
    for x, y in DataLoader((x_train, y_train), batch_size=32, shuffle=True, seed=epoch):
        loss, grads = loss_and_grads(x, y)
        optimizer(grads)
    schedule.step()
    (train_loss, train_accuracy), (test_loss, test_accuracy) = evaluate(x_train, y_train), evaluate(x_test, y_test)
    for key, value in zip(history, (train_loss, test_loss, train_accuracy, test_accuracy)):
        history[key].append(value)
    print(f"epoch {epoch:2d}  train loss {train_loss:.4f}  test loss {test_loss:.4f}  "
          f"test accuracy {100 * test_accuracy:.1f} %")
assert history["test accuracy"][-1] > 0.95
assert history["train loss"][-1] < history["train loss"][0] / 3

# %%
# Learning curves and the confusion matrix
# ----------------------------------------

predicted = model(x_test).numpy().argmax(axis=1)
confusion = np.zeros((10, 10), int)
np.add.at(confusion, (y_test, predicted), 1)
assert confusion.trace() == (predicted == y_test).sum()

fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
epochs = np.arange(1, EPOCHS + 1)
for key, style in (("train loss", "-o"), ("test loss", "--o")):
    axes[0].plot(epochs, history[key], style, label=key)
for key, style in (("train accuracy", "-o"), ("test accuracy", "--o")):
    axes[1].plot(epochs, 100 * np.array(history[key]), style, label=key)
axes[0].set(xlabel="epoch", ylabel="cross-entropy (nats)", title="loss")
axes[1].set(xlabel="epoch", ylabel="accuracy (%)", title=f"accuracy: {100 * history['test accuracy'][-1]:.1f} % on test")
for ax in axes[:2]:
    ax.legend()
image = axes[2].imshow(confusion, cmap="Blues")
for (i, j), count in np.ndenumerate(confusion):
    if count:
        axes[2].text(j, i, count, ha="center", va="center", color="white" if count > 20 else "black", fontsize=8)
axes[2].set(xlabel="predicted digit", ylabel="true digit", xticks=range(10), yticks=range(10),
            title=f"test confusion matrix ({(predicted != y_test).sum()} mistakes of {len(y_test)})")
fig.colorbar(image, ax=axes[2], label="pictures")
fig.suptitle("An MLP 64-128-10 trained on the 8×8 digits with SGD + momentum, cosine schedule: ten epochs, a second or two")
fig.tight_layout()
plt.show()

# %%
# The pictures it gets wrong
# --------------------------

wrong = np.flatnonzero(predicted != y_test)[:8]
probabilities = ops.softmax(model(x_test[wrong]), axis=1).numpy()
fig, axes = plt.subplots(1, len(wrong), figsize=(2 * len(wrong), 2.8), squeeze=False, layout="constrained")
for ax, i, p in zip(axes[0], wrong, probabilities):
    ax.imshow(x_test[i].reshape(8, 8), cmap="gray_r")
    ax.set_title(f"true {y_test[i]}, said {predicted[i]}\n({100 * p.max():.0f} % sure)", fontsize=9)
    ax.axis("off")
fig.suptitle("Test pictures the network misclassifies, with its confidence")
plt.show()
