"""ArrayDataset and DataLoader: batch boundaries, alignment of arrays, and replayable shuffling."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softgrad.data import ArrayDataset, DataLoader


def numbered(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Features whose first column is the sample index, and labels equal to 10 * index."""
    x = np.repeat(np.arange(n, dtype=np.float32)[:, None], 3, axis=1)
    return x, np.arange(n) * 10


def epoch_indices(loader: DataLoader) -> list[list[int]]:
    return [x[:, 0].astype(int).tolist() for x, _ in loader]


def test_array_dataset_indexes_all_arrays_together():
    x, y = numbered(6)
    dataset = ArrayDataset(x, y)
    assert len(dataset) == 6
    bx, by = dataset[np.array([4, 1])]
    np.testing.assert_array_equal(by, [40, 10])
    np.testing.assert_array_equal(bx[:, 0], [4, 1])


def test_array_dataset_rejects_different_lengths_naming_them():
    with pytest.raises(ValueError, match=r"same length .* arrays\[0\] has 5, arrays\[1\] has 4"):
        ArrayDataset(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match=r"needs at least one array"):
        ArrayDataset()
    with pytest.raises(ValueError, match=r"arrays\[1\] is a 0-d scalar"):
        ArrayDataset(np.zeros(3), np.float32(1))


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True, "8"])
def test_batch_size_must_be_a_positive_integer(batch_size):
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1, got .*; pass e.g. batch_size=32"):
        DataLoader(numbered(4), batch_size=batch_size)


@pytest.mark.parametrize("seed", [-1, 1.5, "0"])
def test_seed_must_be_a_non_negative_integer(seed):
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer or None, got "):
        DataLoader(numbered(4), batch_size=2, shuffle=True, seed=seed)


def test_unshuffled_batches_are_in_order_and_are_views():
    x, y = numbered(7)
    loader = DataLoader((x, y), batch_size=3)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [b[1].tolist() for b in batches] == [[0, 10, 20], [30, 40, 50], [60]]
    assert all(np.shares_memory(bx, x) for bx, _ in batches)


def test_drop_last_drops_only_the_partial_batch():
    assert len(DataLoader(numbered(7), batch_size=3, drop_last=True)) == 2
    assert len(DataLoader(numbered(6), batch_size=3, drop_last=True)) == 2
    assert len(DataLoader(numbered(2), batch_size=3, drop_last=True)) == 0
    assert epoch_indices(DataLoader(numbered(7), batch_size=3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]


def test_single_array_gives_one_element_tuples():
    (batch,) = next(iter(DataLoader(np.arange(5), batch_size=5)))
    np.testing.assert_array_equal(batch, np.arange(5))


def test_shuffled_epochs_are_permutations_with_arrays_kept_aligned():
    loader = DataLoader(numbered(50), batch_size=8, shuffle=True, seed=3)
    orders = []
    for _ in range(3):
        order = []
        for x, y in loader:
            np.testing.assert_array_equal(y, x[:, 0] * 10)
            order += x[:, 0].astype(int).tolist()
        assert sorted(order) == list(range(50))
        orders.append(order)
    assert orders[0] != orders[1] != orders[2] and orders[0] != list(range(50))


def test_same_seed_gives_same_sequence_and_other_seed_differs():
    first = DataLoader(numbered(30), batch_size=4, shuffle=True, seed=11)
    second = DataLoader(numbered(30), batch_size=4, shuffle=True, seed=11)
    other = DataLoader(numbered(30), batch_size=4, shuffle=True, seed=12)
    for _ in range(2):
        a, b, c = epoch_indices(first), epoch_indices(second), epoch_indices(other)
        assert a == b != c


def test_set_epoch_replays_that_epoch_in_a_fresh_loader():
    original = DataLoader(numbered(40), batch_size=6, shuffle=True, seed=5)
    history = [epoch_indices(original) for _ in range(4)]
    resumed = DataLoader(numbered(40), batch_size=6, shuffle=True, seed=5)
    resumed.set_epoch(2)
    assert [epoch_indices(resumed), epoch_indices(resumed)] == history[2:]


def test_unseeded_loader_records_its_seed_for_resuming():
    loader = DataLoader(numbered(20), batch_size=5, shuffle=True)
    first_epoch = epoch_indices(loader)
    replay = DataLoader(numbered(20), batch_size=5, shuffle=True, seed=loader.seed)
    assert epoch_indices(replay) == first_epoch
    assert DataLoader(numbered(20), batch_size=5, shuffle=True).seed != loader.seed


def test_abandoning_an_epoch_part_way_still_advances_to_the_next():
    loader = DataLoader(numbered(20), batch_size=5, shuffle=True, seed=0)
    next(iter(loader))
    assert loader.epoch == 1
    np.testing.assert_array_equal(
        np.concatenate([x[:, 0] for x, _ in loader]).astype(int), loader.epoch_order(1)
    )


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 40),
    batch_size=st.integers(1, 12),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
)
def test_batches_cover_each_sample_at_most_once_with_right_sizes(n, batch_size, shuffle, drop_last):
    loader = DataLoader(numbered(n), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=0)
    batches = epoch_indices(loader)
    assert len(batches) == len(loader)
    assert all(len(b) == batch_size for b in batches[:-1])
    seen = [i for b in batches for i in b]
    assert len(seen) == len(set(seen))
    expected_count = n - n % batch_size if drop_last else n
    assert len(seen) == expected_count
