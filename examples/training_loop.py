"""A training loop written out by hand: an MLP on the embedded 8×8 digits, in about a second.

This is what `softgrad train` does, minus the progress bar, checkpoints and plots:
`value_and_grad` over the model's Parameters, then `optimizer(grads)` updates them in place.

    python examples/training_loop.py
"""

import numpy as np

import softgrad as sg
from softgrad import nn, ops
from softgrad.data import DataLoader, load_digits


def main(epochs: int = 10, seed: int = 0) -> float:
    x_train, y_train, x_test, y_test = load_digits()  # (N, 64) float32 in [0, 1], int64 labels
    init = sg.random.Generator(seed)  # every random choice comes from an explicit generator
    model = nn.SequentialCell(
        nn.Dense(64, 128, weight_init="he_uniform", generator=init), nn.ReLU(),
        nn.Dense(128, 10, generator=init),
    )
    optimizer = sg.optim.SGD(model.trainable_params(), lr=0.05, momentum=0.9)

    def loss_fn(x: sg.Tensor, y: sg.Tensor) -> sg.Tensor:
        return ops.cross_entropy(model(x), y)

    loss_and_grads = sg.value_and_grad(loss_fn, None, weights=optimizer.parameters)
    loader = DataLoader((x_train, y_train), batch_size=32, shuffle=True, seed=seed)
    for epoch in range(1, epochs + 1):
        model.set_train(True)
        for x, y in loader:
            loss, grads = loss_and_grads(x, y)
            optimizer(grads)  # or optimizer.step(grads)
        model.set_train(False)
        accuracy = np.mean(model(x_test).numpy().argmax(axis=1) == y_test)
        print(f"epoch {epoch:2d}  last batch loss {float(loss):.4f}  test accuracy {100 * accuracy:.2f}%")
    return float(accuracy)


if __name__ == "__main__":
    main()
