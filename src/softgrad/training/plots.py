"""The run's figures, drawn with matplotlib's object API (no pyplot, no global backend change) and written
atomically as PNG."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from softgrad._files import atomic_write_bytes


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("plots need matplotlib: pip install 'softgrad[cli]'") from error
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(figure, path: Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())


def plot_curves(history: dict, path: Path, title: str = "") -> None:
    """Loss and accuracy per epoch, train and test, side by side (None, a non-finite value, is left out)."""
    figure = _figure(10, 4)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    series = {key: np.array(values, dtype=np.float64) for key, values in history.items()}  # None -> NaN: a gap
    epochs = series["epoch"]
    loss_axes.plot(epochs, series["train_loss"], "o-", label="train")
    loss_axes.plot(epochs, series["test_loss"], "s-", label="test")
    loss_axes.set(xlabel="epoch", ylabel="loss", yscale="log", title="loss")
    accuracy_axes.plot(epochs, 100 * series["train_accuracy"], "o-", label="train")
    accuracy_axes.plot(epochs, 100 * series["test_accuracy"], "s-", label="test")
    accuracy_axes.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    from matplotlib.ticker import MaxNLocator

    for axes in (loss_axes, accuracy_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        axes.legend()
    if title:
        figure.suptitle(title)
    _save(figure, path)


def plot_confusion(matrix: np.ndarray, class_names, path: Path, title: str = "") -> None:
    """The confusion matrix (rows: true class, columns: predicted), counts written in the cells."""
    n = len(matrix)
    figure = _figure(1.5 + 0.6 * n, 1.2 + 0.6 * n)
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, shrink=0.8)
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            axes.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                      color="white" if matrix[i, j] > threshold else "black")
    axes.set_xticks(range(n), labels=class_names, rotation=45 if max(map(len, class_names)) > 2 else 0, ha="right"
                    if max(map(len, class_names)) > 2 else "center")
    axes.set_yticks(range(n), labels=class_names)
    axes.set(xlabel="predicted", ylabel="true", title=title or "confusion matrix")
    _save(figure, path)


__all__ = ["plot_curves", "plot_confusion"]
