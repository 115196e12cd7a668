"""Mini-batches over in-memory arrays, with shuffling that can be replayed exactly on resume.

Shuffled order of epoch e is `np.random.default_rng([seed, e]).permutation(n)`: a pure
function of (seed, epoch), so a run restarted at epoch e with the same seed sees the same
batches as the original run, whatever happened before.

Sharding (data-parallel training, MindSpore's `num_shards` / `shard_id`): every rank draws that
same permutation, cuts it into the same global batches of `batch_size`, and takes its stride of
each one (positions shard_id, shard_id + num_shards, ...). So every rank takes `len(loader)` steps,
the shards of one step together are exactly the batch one process would take, and each sample is
seen once per epoch. The last, smaller batch is neither padded nor dropped (unless `drop_last`): it
is split too, a rank's share possibly one sample smaller or empty; weighting each rank's gradient by
its sample count (`nn.DistributedGradReducer.reduce(..., weight=len(y))`) keeps that step exact.
Unlike MindSpore, `batch_size` is the global batch, not each rank's.
"""

import numpy as np


class ArrayDataset:
    """Equal-length arrays indexed together: `dataset[i]` is `(a[i], b[i], ...)`.

    `i` may be an integer, a slice or an integer array.
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array, got none; pass e.g. ArrayDataset(x, y)")
        self.arrays = tuple(np.asarray(array) for array in arrays)
        for i, array in enumerate(self.arrays):
            if array.dtype.kind not in "biufc":
                raise TypeError(f"ArrayDataset: arrays[{i}] must hold numbers, got {type(arrays[i]).__name__} "
                                f"{arrays[i]!r:.60} (NumPy dtype {array.dtype}); pass numeric arrays")
        lengths = [len(array) if array.ndim else None for array in self.arrays]
        if None in lengths:
            raise ValueError(
                f"ArrayDataset: arrays[{lengths.index(None)}] is a 0-d scalar; pass arrays with one row per sample"
            )
        if len(set(lengths)) > 1:
            described = ", ".join(f"arrays[{i}] has {length}" for i, length in enumerate(lengths))
            raise ValueError(
                f"ArrayDataset: arrays must have the same length (one row per sample), but {described}"
            )

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index) -> tuple[np.ndarray, ...]:
        return tuple(array[index] for array in self.arrays)


class DataLoader:
    """Iterate over a dataset in batches; each batch is a tuple of NumPy arrays.

    dataset_or_arrays: an ArrayDataset (or anything with len() whose [] takes slices and integer
    arrays), a tuple/list of equal-length arrays, or a single array.
    Unshuffled batches are views (slices); shuffled ones take one fancy-index per array.
    Every iteration is one epoch and advances `epoch`; `set_epoch(e)` makes the next iteration
    replay epoch e. With seed=None a random seed is drawn once and kept in `seed` (pass a seed when
    sharding: every rank must draw the same order).
    num_shards, shard_id: this rank's stride of every global batch (see the module's docstring).

    >>> loader = DataLoader((np.arange(5), np.arange(5) * 10), batch_size=2)
    >>> len(loader), [y.tolist() for x, y in loader]
    (3, [[0, 10], [20, 30], [40]])
    >>> [y.tolist() for (y,) in DataLoader(np.arange(5), batch_size=2, num_shards=2, shard_id=1)]
    [[1], [3], []]
    """

    def __init__(
        self, dataset_or_arrays, batch_size: int, shuffle: bool = False, drop_last: bool = False,
        seed: int | None = None, num_shards: int | None = None, shard_id: int | None = None,
    ):
        if isinstance(dataset_or_arrays, (tuple, list)):
            dataset_or_arrays = ArrayDataset(*dataset_or_arrays)
        elif isinstance(dataset_or_arrays, np.ndarray):
            dataset_or_arrays = ArrayDataset(dataset_or_arrays)
        elif isinstance(dataset_or_arrays, (str, bytes, dict)) or not (
                hasattr(dataset_or_arrays, "__len__") and hasattr(dataset_or_arrays, "__getitem__")):
            raise TypeError(f"DataLoader: dataset_or_arrays must be an ArrayDataset (or a dataset with len() and "
                            f"[]), a tuple of equal-length arrays or one array, got {type(dataset_or_arrays).__name__} "
                            f"{dataset_or_arrays!r:.60}; pass e.g. DataLoader((x, y), batch_size=32)")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(
                f"DataLoader: batch_size must be an integer >= 1, got {batch_size!r}; pass e.g. batch_size=32"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"DataLoader: seed must be a non-negative integer or None, got {seed!r}")
        for name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"DataLoader: {name} must be True or False, got {type(flag).__name__} {flag!r}")
        self.dataset = dataset_or_arrays
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = int(np.random.SeedSequence().entropy) if seed is None else int(seed)
        self.num_shards, self.shard_id = _checked_shards(num_shards, shard_id)
        self.epoch = 0

    def __len__(self) -> int:
        full_batches, remainder = divmod(len(self.dataset), self.batch_size)
        return full_batches + (1 if remainder and not self.drop_last else 0)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration produce epoch `epoch`'s batches (for resuming a run)."""
        if isinstance(epoch, (bool, np.bool_)) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"DataLoader.set_epoch: epoch must be an integer >= 0, got {epoch!r}")
        self.epoch = int(epoch)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The sample order of `epoch` when shuffling: a function of (seed, epoch) only."""
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset))

    def __iter__(self):
        order = self.epoch_order(self.epoch) if self.shuffle else None
        self.epoch += 1
        return self._batches(order)

    def _batches(self, order):
        step = self.num_shards
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            stop = min(start + self.batch_size, len(self.dataset))
            first = start + self.shard_id
            yield self.dataset[slice(first, stop, step) if order is None else order[first:stop:step]]


def _checked_shards(num_shards, shard_id) -> tuple[int, int]:
    """(num_shards, shard_id), both given or neither (one shard: the whole batch)."""
    if num_shards is None and shard_id is None:
        return 1, 0
    for name, value in (("num_shards", num_shards), ("shard_id", shard_id)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"DataLoader: num_shards and shard_id are given together, as integers; {name} is "
                             f"{value!r}: pass e.g. num_shards=get_group_size(), shard_id=get_rank()")
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise ValueError(f"DataLoader: num_shards must be >= 1 and shard_id in [0, num_shards), got num_shards="
                         f"{num_shards!r}, shard_id={shard_id!r}")
    return int(num_shards), int(shard_id)


__all__ = ["ArrayDataset", "DataLoader"]
