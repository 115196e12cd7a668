"""Classification datasets as NumPy arrays: (x_train, y_train, x_test, y_test).

`load_digits` reads the small 8x8 digits set embedded in the package (works offline);
`load_mnist` and `load_fashion_mnist` read the standard IDX files from a directory and can
download them, verified against SHA-256 values pinned below.
"""

import functools
import gzip
import hashlib
import http.client
import importlib.resources
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from softgrad._files import atomic_write_bytes, check_size, max_bytes, read_bounded
from softgrad.data.idx import read_idx

NUM_CLASSES = 10
TrainTestArrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test

# ----- shared image formatting -----


def _format_images(pixels: np.ndarray, max_value: int, flatten: bool, normalize: bool) -> np.ndarray:
    """(N, H, W) pixels -> float32 in [0, 1] if normalize, shaped (N, H*W) if flatten else (N, 1, H, W)."""
    images = pixels.astype(np.float32) / max_value if normalize else pixels
    return images.reshape(len(images), -1) if flatten else images[:, np.newaxis]


# ----- embedded 8x8 digits -----

_DIGITS_TEST_SIZE = 360
_DIGITS_SPLIT_SEED = 0
_DIGITS_MAX_PIXEL = 16


@functools.lru_cache(maxsize=1)
def _digits_table() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as read-only (pixel counts (1797, 8, 8) uint8, labels (1797,) int64), parsed once."""
    with importlib.resources.files(__package__).joinpath("digits.csv.gz").open("rb") as compressed:
        table = np.loadtxt(gzip.GzipFile(fileobj=compressed), delimiter=",", dtype=np.int64)
    pixels, labels = table[:, :-1].astype(np.uint8).reshape(-1, 8, 8), table[:, -1]
    pixels.flags.writeable = labels.flags.writeable = False
    return pixels, labels


def load_digits(normalize: bool = True, flatten: bool = True) -> TrainTestArrays:
    """The UCI 8x8 handwritten digits (1797 images, 10 classes), embedded in the package.

    Split: the rows are permuted with `np.random.default_rng(0)`; the first 1437 are the training
    set and the last 360 (20%) the test set: the same split on every machine and every call.
    Images are float32 in [0, 1] (pixel counts / 16), or the raw uint8 counts 0..16 with
    normalize=False; shaped (N, 64), or (N, 1, 8, 8) with flatten=False. Labels are int64.
    The arrays returned are fresh copies. Source and licence: DIGITS_LICENSE.txt (CC BY 4.0).

    >>> x_train, y_train, x_test, y_test = load_digits()
    >>> x_train.shape, x_train.dtype, y_test.shape, y_test.dtype
    ((1437, 64), dtype('float32'), (360,), dtype('int64'))
    """
    pixels, labels = _digits_table()
    order = np.random.default_rng(_DIGITS_SPLIT_SEED).permutation(len(labels))
    train, test = order[:-_DIGITS_TEST_SIZE], order[-_DIGITS_TEST_SIZE:]
    return (
        _format_images(pixels[train], _DIGITS_MAX_PIXEL, flatten, normalize),
        labels[train],
        _format_images(pixels[test], _DIGITS_MAX_PIXEL, flatten, normalize),
        labels[test],
    )


# ----- MNIST-style IDX datasets -----


@dataclass(frozen=True)
class _IdxSource:
    title: str
    cache_name: str
    mirrors: tuple[str, ...]
    sha256: dict[str, str]  # file name -> hex digest of the .gz file


_MNIST = _IdxSource(
    title="MNIST",
    cache_name="mnist",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    sha256={
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
)

# The Fashion-MNIST README publishes MD5s (train-images 8d4fb7e6c68d591d4c3dfef9ec88bf0d, ...);
# these SHA-256s of the same files are the ones torchvision's dataset code and others pin.
_FASHION_MNIST = _IdxSource(
    title="Fashion-MNIST",
    cache_name="fashion_mnist",
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    sha256={
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
)

_SPLITS = (
    ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
)
_IDX_MAX_PIXEL = 255
_DOWNLOAD_TIMEOUT_SECONDS = 60
_SHA256SUMS_MAX_BYTES = 1 << 20


def _fetch(url: str) -> bytes:
    """The bytes at `url`, at most `max_bytes()` of them (the one network call; tests replace it)."""
    limit = max_bytes()
    with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_SECONDS) as response:
        data = response.read(limit + 1)
    check_size(url, len(data), limit)
    return data


def _sha256_of_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _download(source: _IdxSource, directory: Path, filename: str) -> Path:
    """Fetch `filename` from the first mirror that serves the pinned bytes; write it atomically."""
    expected = source.sha256[filename]
    failures = []
    for mirror in source.mirrors:
        url = mirror + filename
        try:
            data = _fetch(url)
        except (OSError, http.client.HTTPException, ValueError) as error:  # no network, a broken transfer, too big
            failures.append(f"{url}: {error}")
            continue
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            failures.append(f"{url}: SHA-256 is {actual}, expected {expected}")
            continue
        atomic_write_bytes(directory / filename, data)
        return directory / filename
    raise OSError(
        f"could not download {source.title} file {filename} into {directory}: "
        + "; ".join(failures)
        + f"; check the network connection, or copy the file into {directory} yourself"
    )


def _read_sha256sums(sums_file: Path) -> dict[str, str]:
    """Parse `sha256sum` output: '<hex>  <filename>' per line ('*' before the name marks binary mode)."""
    digests = {}
    text = read_bounded(sums_file, _SHA256SUMS_MAX_BYTES).decode("utf-8", errors="replace")
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, name = line.strip().partition(" ")
        if len(digest) != 64 or not name.strip():
            raise ValueError(f"{sums_file}:{line_number}: expected '<64 hex digits>  <file name>', got {line!r}")
        digests[name.strip().lstrip("*")] = digest.lower()
    return digests


def _verify_against_sha256sums(directory: Path, paths: list[Path]) -> None:
    """If `directory` has a SHA256SUMS file, check every file in `paths` that it lists."""
    sums_file = directory / "SHA256SUMS"
    if not sums_file.exists():
        return
    expected = _read_sha256sums(sums_file)
    for path in paths:
        if path.name in expected and (actual := _sha256_of_file(path)) != expected[path.name]:
            raise ValueError(
                f"{path}: SHA-256 is {actual}, but {sums_file} lists {expected[path.name]}; "
                "the file is damaged or a different version: delete it and fetch it again"
            )


def _read_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, rows, cols) uint8 and labels (N,) int64, checked against each other."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (N, rows, cols), got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1:
        raise ValueError(f"{labels_path}: expected labels of shape (N,), got shape {labels.shape}")
    if labels.dtype.kind not in "ui":
        raise ValueError(f"{labels_path}: labels are stored as {labels.dtype}, expected integers (MNIST's are "
                         "uint8); a float label would be truncated: write the file with an integer IDX type")
    if len(labels) != len(images):
        raise ValueError(
            f"{labels_path} holds {len(labels)} labels but {images_path} holds {len(images)} images; "
            "they must come from the same split"
        )
    out_of_range = np.flatnonzero((labels < 0) | (labels >= NUM_CLASSES))
    if out_of_range.size:
        first = out_of_range[0]
        raise ValueError(
            f"{labels_path}: labels must be 0..{NUM_CLASSES - 1}, found {labels[first]} at index {first} "
            f"({out_of_range.size} out of range)"
        )
    return images, labels.astype(np.int64)


def _find_idx_file(directory: Path, stem: str) -> Path | None:
    """directory/stem.gz, else directory/stem, else None."""
    return next((path for path in (directory / f"{stem}.gz", directory / stem) if path.is_file()), None)


def _load_idx_dataset(source: _IdxSource, root, download: bool, flatten: bool, normalize: bool,
                      train: bool) -> TrainTestArrays:
    default_directory = Path.home() / ".cache" / "softgrad" / source.cache_name
    directory = default_directory if root is None else Path(root).expanduser()
    splits = _SPLITS if train else _SPLITS[1:]
    paths = {stem: _find_idx_file(directory, stem) for split in splits for stem in split}
    missing = [stem for stem, path in paths.items() if path is None]
    if missing and not download:
        raise FileNotFoundError(
            f"{source.title} files missing in {directory}: "
            + ", ".join(stem + "[.gz]" for stem in missing)
            + f"; pass download=True to fetch them, or copy them into {directory}"
        )
    for stem in missing:
        paths[stem] = _download(source, directory, stem + ".gz")
    _verify_against_sha256sums(directory, list(paths.values()))
    arrays = [] if train else [None, None]
    for images_stem, labels_stem in splits:
        images, labels = _read_split(paths[images_stem], paths[labels_stem])
        arrays += [_format_images(images, _IDX_MAX_PIXEL, flatten, normalize), labels]
    return tuple(arrays)


def load_mnist(
    root: str | os.PathLike | None = None, download: bool = False, flatten: bool = True, normalize: bool = True,
    train: bool = True,
) -> TrainTestArrays:
    """MNIST handwritten digits: 60000 training and 10000 test images, 28x28, labels 0..9.

    Reads train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
    t10k-labels-idx1-ubyte (each raw or .gz) from `root` (default ~/.cache/softgrad/mnist).
    Files listed in a SHA256SUMS file in `root` are verified. With download=True, missing files
    are fetched from public mirrors and checked against pinned SHA-256 digests.
    Images are float32 in [0, 1] (or raw uint8 with normalize=False), shaped (N, 784), or
    (N, 1, 28, 28) with flatten=False; labels are int64. With train=False only the two t10k files
    are read (the training files need not exist) and x_train, y_train are None.
    """
    return _load_idx_dataset(_MNIST, root, download, flatten, normalize, train)


def load_fashion_mnist(
    root: str | os.PathLike | None = None, download: bool = False, flatten: bool = True, normalize: bool = True,
    train: bool = True,
) -> TrainTestArrays:
    """Fashion-MNIST (Zalando article images): same files, shapes and options as `load_mnist`.

    Default directory ~/.cache/softgrad/fashion_mnist. Labels: 0 T-shirt/top, 1 Trouser,
    2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot.
    """
    return _load_idx_dataset(_FASHION_MNIST, root, download, flatten, normalize, train)


__all__ = ["load_digits", "load_mnist", "load_fashion_mnist"]
