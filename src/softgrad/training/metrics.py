"""Losses of ``softgrad train`` and the evaluation of a classifier: loss, accuracy, confusion matrix."""

from __future__ import annotations

from typing import Callable

import numpy as np

from softgrad import ops
from softgrad.nn import Cell


def make_loss(name: str, num_classes: int) -> Callable:
    """``loss(logits, labels)``, mean over the batch: 'cross-entropy' (softmax + negative log-likelihood), or
    'mse' between the softmax probabilities and the one-hot labels (mean over every entry, as PyTorch's
    mse_loss) — a valid but badly conditioned objective: its gradient vanishes as the softmax saturates, so
    it learns more slowly."""
    if name == "cross-entropy":
        return lambda logits, labels: ops.cross_entropy(logits, labels)
    if name == "mse":
        return lambda logits, labels: ops.mse_loss(ops.softmax(logits, axis=-1), ops.one_hot(labels, num_classes))
    raise ValueError(f"unknown loss {name!r}; use cross-entropy or mse")


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[true, predicted].

    >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), 2)
    array([[1, 0],
           [1, 1]])
    """
    return np.bincount(labels * num_classes + predictions, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes)


def evaluate(model: Cell, loss_fn: Callable, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> dict:
    """Mean loss, accuracy and predictions of ``model`` on (x, y), in evaluation mode (restored after)."""
    was_training = model.training
    model.set_train(False)
    total_loss, predictions = 0.0, []
    try:
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            logits = model(xb)
            total_loss += float(loss_fn(logits, yb)) * len(yb)
            predictions.append(np.argmax(logits.numpy(), axis=-1))
    finally:
        model.set_train(was_training)
    predictions = np.concatenate(predictions) if predictions else np.zeros(0, dtype=np.int64)
    return {"loss": total_loss / max(len(y), 1), "accuracy": float(np.mean(predictions == y)) if len(y) else 0.0,
            "predictions": predictions}


__all__ = ["make_loss", "confusion_matrix", "evaluate"]
