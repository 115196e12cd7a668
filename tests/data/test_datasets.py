"""load_digits against scikit-learn's copy; load_mnist / load_fashion_mnist on small IDX files
written here, including the download path with a fake network."""

import dataclasses
import hashlib
import os
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest

import softgrad.data.datasets as datasets
from softgrad.data import load_digits, load_fashion_mnist, load_mnist, write_idx

REAL_MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"
FILE_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

# ----- embedded digits -----


def sorted_rows(table: np.ndarray) -> np.ndarray:
    return table[np.lexsort(table.T[::-1])]


def test_digits_shapes_dtypes_and_range():
    x_train, y_train, x_test, y_test = load_digits()
    assert (x_train.shape, x_test.shape, y_train.shape, y_test.shape) == ((1437, 64), (360, 64), (1437,), (360,))
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert np.bincount(y_test, minlength=10).min() >= 20  # the random split leaves every class well represented


def test_digits_train_and_test_together_are_exactly_scikit_learns_digits():
    reference = pytest.importorskip("sklearn.datasets").load_digits()
    x_train, y_train, x_test, y_test = load_digits(normalize=False)
    ours = np.column_stack([np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test])])
    theirs = np.column_stack([reference.data, reference.target]).astype(np.int64)
    np.testing.assert_array_equal(sorted_rows(ours.astype(np.int64)), sorted_rows(theirs))


def test_digits_split_is_pinned():
    """The test set must never drift (e.g. with a NumPy upgrade): reported accuracies depend on it."""
    _, _, _, y_test = load_digits()
    assert y_test[:12].tolist() == [0, 8, 8, 9, 8, 3, 7, 5, 0, 6, 6, 3]
    assert np.bincount(y_test).tolist() == [39, 37, 47, 28, 42, 32, 37, 27, 30, 41]


def test_digits_normalize_and_flatten_options():
    x_raw, _, _, _ = load_digits(normalize=False, flatten=False)
    x_scaled, _, _, _ = load_digits(flatten=False)
    assert x_raw.shape == (1437, 1, 8, 8) and x_raw.dtype == np.uint8 and x_raw.max() == 16
    np.testing.assert_array_equal(x_scaled * 16, x_raw)


def test_digits_split_is_deterministic_and_returns_independent_copies():
    first = load_digits()
    first[0][:] = -1.0
    first[1][:] = -1
    second = load_digits()
    third = load_digits()
    assert second[0].min() == 0.0 and second[1].min() == 0
    for a, b in zip(second, third):
        np.testing.assert_array_equal(a, b)


def test_loading_digits_does_not_import_scikit_learn():
    code = "import sys, softgrad.data as d; d.load_digits(); assert 'sklearn' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONWARNINGS": "error"})


# ----- MNIST-style IDX datasets from a directory -----


def write_fake_mnist(directory: Path, n_train: int = 12, n_test: int = 5) -> dict[str, np.ndarray]:
    """Small images (N, 4, 4) and labels 0..9 in the standard file names; returns what was written."""
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 4, 4), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 4, 4), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.arange(n_test, dtype=np.uint8)[::-1] % 10,
    }
    for name, array in arrays.items():
        write_idx(directory / name, array)
    return arrays


def test_mnist_from_directory_normalized_and_flattened(tmp_path):
    written = write_fake_mnist(tmp_path)
    x_train, y_train, x_test, y_test = load_mnist(tmp_path)
    assert x_train.shape == (12, 16) and x_train.dtype == np.float32
    np.testing.assert_allclose(x_test, written["t10k-images-idx3-ubyte.gz"].reshape(5, 16) / 255.0, rtol=1e-7)
    assert y_train.dtype == np.int64
    np.testing.assert_array_equal(y_test, written["t10k-labels-idx1-ubyte.gz"])


def test_mnist_raw_uncompressed_files_and_unflattened_uint8(tmp_path):
    for name, array in write_fake_mnist(tmp_path).items():
        (tmp_path / name).unlink()
        write_idx(tmp_path / name.removesuffix(".gz"), array)
    x_train, _, _, _ = load_fashion_mnist(str(tmp_path), flatten=False, normalize=False)
    assert x_train.shape == (12, 1, 4, 4) and x_train.dtype == np.uint8


def test_missing_files_error_names_directory_files_and_fix(tmp_path):
    write_fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError) as error:
        load_mnist(tmp_path)
    message = str(error.value)
    assert str(tmp_path) in message and "t10k-labels-idx1-ubyte[.gz]" in message
    assert "pass download=True" in message
    assert "train-images" not in message


def test_label_count_must_match_image_count(tmp_path):
    write_fake_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(11, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"holds 11 labels but .*train-images-idx3-ubyte.gz holds 12 images"):
        load_mnist(tmp_path)


def test_labels_outside_0_to_9_are_rejected(tmp_path):
    write_fake_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 12, 3, 4], dtype=np.uint8))
    with pytest.raises(ValueError, match=r"labels must be 0..9, found 12 at index 2"):
        load_mnist(tmp_path)


def test_labels_stored_as_floats_are_refused_not_truncated(tmp_path):
    write_fake_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 3.7, 3, 4], dtype=np.float32))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.gz: labels are stored as float32, expected integers"):
        load_mnist(tmp_path)


def test_the_test_split_alone_needs_only_the_test_files(tmp_path):
    written = write_fake_mnist(tmp_path)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (tmp_path / name).unlink()
    x_train, y_train, x_test, y_test = load_mnist(tmp_path, train=False)
    assert x_train is None and y_train is None and x_test.shape == (5, 16)
    np.testing.assert_array_equal(y_test, written["t10k-labels-idx1-ubyte.gz"])
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)


def test_files_listed_in_sha256sums_are_verified(tmp_path):
    write_fake_mnist(tmp_path)
    sums = [f"{hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()}  {name}" for name in FILE_NAMES]
    (tmp_path / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    load_mnist(tmp_path)  # all match
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((12, 4, 4), dtype=np.uint8))
    with pytest.raises(
        ValueError,
        match=r"train-images-idx3-ubyte.gz: SHA-256 is [0-9a-f]{64}, but .*SHA256SUMS lists",
    ):
        load_mnist(tmp_path)


def test_malformed_sha256sums_line_is_reported_with_line_number(tmp_path):
    write_fake_mnist(tmp_path)
    (tmp_path / "SHA256SUMS").write_text("abc123  train-images-idx3-ubyte.gz\n")
    with pytest.raises(ValueError, match=r"SHA256SUMS:1: expected '<64 hex digits>  <file name>'"):
        load_mnist(tmp_path)


# ----- downloading, with the network replaced by a dict of URL -> bytes -----


@pytest.fixture
def fake_network(monkeypatch):
    """Serve registered URLs; anything else fails like an unreachable host. Records requested URLs."""
    served: dict[str, bytes] = {}
    requested: list[str] = []

    def fetch(url: str) -> bytes:
        requested.append(url)
        if url not in served:
            raise urllib.error.URLError("Name or service not known")
        return served[url]

    monkeypatch.setattr(datasets, "_fetch", fetch)
    return served, requested


def pin_fake_files(monkeypatch, source_name: str, files_dir: Path) -> None:
    """Pin the SHA-256s of the fake files in place of the real dataset's."""
    source = getattr(datasets, source_name)
    pinned = {name: hashlib.sha256((files_dir / name).read_bytes()).hexdigest() for name in FILE_NAMES}
    monkeypatch.setattr(datasets, source_name, dataclasses.replace(source, sha256=pinned))


def test_download_falls_back_to_second_mirror_and_caches(tmp_path, monkeypatch, fake_network):
    served, requested = fake_network
    origin = tmp_path / "origin"
    written = write_fake_mnist(origin)
    pin_fake_files(monkeypatch, "_MNIST", origin)
    second_mirror = datasets._MNIST.mirrors[1]
    served.update({second_mirror + name: (origin / name).read_bytes() for name in FILE_NAMES})

    cache = tmp_path / "cache" / "mnist"
    _, y_train, _, _ = load_mnist(cache, download=True)
    np.testing.assert_array_equal(y_train, written["train-labels-idx1-ubyte.gz"])
    assert sorted(os.listdir(cache)) == sorted(FILE_NAMES)
    assert len(requested) == 8  # first mirror fails, second serves, for each file

    load_mnist(cache, download=True)
    assert len(requested) == 8  # second load reads the cache


def test_download_defaults_to_home_cache_directory(tmp_path, monkeypatch, fake_network):
    served, _ = fake_network
    origin = tmp_path / "origin"
    write_fake_mnist(origin)
    pin_fake_files(monkeypatch, "_FASHION_MNIST", origin)
    served.update({datasets._FASHION_MNIST.mirrors[0] + name: (origin / name).read_bytes() for name in FILE_NAMES})
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    load_fashion_mnist(download=True)
    assert sorted(os.listdir(tmp_path / "home" / ".cache" / "softgrad" / "fashion_mnist")) == sorted(FILE_NAMES)


def test_checksum_mismatch_on_every_mirror_raises_and_leaves_no_file(tmp_path, fake_network):
    served, _ = fake_network
    write_fake_mnist(tmp_path / "origin")  # real MNIST digests stay pinned, so these bytes are wrong
    for mirror in datasets._MNIST.mirrors:
        served.update({mirror + name: (tmp_path / "origin" / name).read_bytes() for name in FILE_NAMES})
    cache = tmp_path / "cache"
    expected_message = r"(?s)could not download MNIST file train-images-idx3-ubyte.gz.*SHA-256 is .*, expected 440fcabf"
    with pytest.raises(OSError, match=expected_message):
        load_mnist(cache, download=True)
    assert not cache.exists() or os.listdir(cache) == []


def test_unreachable_network_error_lists_each_mirror_on_one_line(tmp_path, fake_network):
    with pytest.raises(OSError) as error:
        load_fashion_mnist(tmp_path, download=True)
    assert "Name or service not known" in str(error.value) and "fashion-mnist.s3-website" in str(error.value)
    assert "\n" not in str(error.value) and "check the network connection" in str(error.value)
    assert os.listdir(tmp_path) == []


def test_a_download_larger_than_the_cap_is_cut_off_and_refused(tmp_path, monkeypatch):
    class Response:  # a server that would send bytes without end
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, size=-1):
            assert size >= 0, "an unbounded read"
            return bytes(size)

    monkeypatch.setattr(datasets.urllib.request, "urlopen", lambda url, timeout: Response())
    monkeypatch.setenv("SOFTGRAD_MAX_BYTES", "1000")
    with pytest.raises(OSError, match=r"is 1,001 bytes, above the cap of 1,000 bytes"):
        load_mnist(tmp_path, download=True)
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not REAL_MNIST.is_dir(), reason="real MNIST not found at ../shared/data/mnist")
def test_pinned_mnist_digests_accept_the_real_files(tmp_path, fake_network):
    served, _ = fake_network
    served.update({datasets._MNIST.mirrors[0] + name: (REAL_MNIST / name).read_bytes() for name in FILE_NAMES})
    for name in FILE_NAMES:
        datasets._download(datasets._MNIST, tmp_path, name)
    assert sorted(os.listdir(tmp_path)) == sorted(FILE_NAMES)


# ----- the real MNIST -----


def test_real_mnist_shapes_dtypes_and_label_counts():
    if not REAL_MNIST.is_dir():
        pytest.skip("real MNIST not found at ../shared/data/mnist")
    x_train, y_train, x_test, y_test = load_mnist(REAL_MNIST)
    assert (x_train.shape, x_test.shape) == ((60000, 784), (10000, 784))
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() == 1.0
    assert y_train.dtype == y_test.dtype == np.int64
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
