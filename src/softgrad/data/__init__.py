"""Data for training: IDX file I/O, ready-made classification datasets, and a mini-batch loader.

Imports only NumPy, the standard library and `softgrad._files`.
"""

from softgrad.data.datasets import load_digits, load_fashion_mnist, load_mnist
from softgrad.data.idx import read_idx, write_idx
from softgrad.data.loader import ArrayDataset, DataLoader

__all__ = [
    "read_idx",
    "write_idx",
    "load_digits",
    "load_mnist",
    "load_fashion_mnist",
    "ArrayDataset",
    "DataLoader",
]
