"""The datasets ``softgrad train`` knows (its sources of data), always as float32 images (N, 1, H, W) in [0, 1] and
int64 labels."""

from __future__ import annotations

import numpy as np

from softgrad import data

SHAPES = {"digits": ((1, 8, 8), 10), "mnist": ((1, 28, 28), 10), "fashion-mnist": ((1, 28, 28), 10)}  # input, classes
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


def load_dataset(name: str, data_dir=None, download: bool = False, train: bool = True):
    """(x_train, y_train, x_test, y_test, class_names) of ``name`` ('digits', 'mnist' or 'fashion-mnist');
    with train=False x_train and y_train are None, and MNIST's training files need not exist."""
    if name == "digits":
        arrays = data.load_digits(flatten=False)
        classes = tuple(str(d) for d in range(10))
    elif name == "mnist":
        arrays = data.load_mnist(data_dir, download=download, flatten=False, train=train)
        classes = tuple(str(d) for d in range(10))
    elif name == "fashion-mnist":
        arrays = data.load_fashion_mnist(data_dir, download=download, flatten=False, train=train)
        classes = FASHION_CLASSES
    else:
        raise ValueError(f"unknown dataset {name!r}; use digits, mnist or fashion-mnist")
    x_train, y_train, x_test, y_test = arrays
    x_train = np.ascontiguousarray(x_train, dtype=np.float32) if train else None
    return x_train, y_train if train else None, np.ascontiguousarray(x_test, dtype=np.float32), y_test, classes


__all__ = ["load_dataset"]
