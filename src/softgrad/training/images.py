"""Any picture of a digit (or garment) as the network's input: grey, a bright object on a dark background,
cropped to its bounding box, resized and placed as the training images are, values in [0, 1].

MNIST's convention (LeCun et al.): the digit fitted into a 20×20 box (aspect ratio kept), centred by its
centre of mass in the 28×28 frame. The 8×8 digits are 4×4 block counts of 32×32 bitmaps that the digit fills,
centred by its box.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from softgrad._files import check_regular_file, max_bytes

MNIST_BOX_FRACTION = 20 / 28
SMALL_FRAME = 16  # frames up to this size are made like the 8×8 digits; larger ones like MNIST
SMALL_BLOCK = 4  # the 8×8 digits are 4×4 block sums of 32×32 bitmaps
BYTES_PER_PIXEL = 16  # decoding (up to 4 bytes), grey (1) and float32 (4) copies, and the resize's: the cap / 16


def _pillow():
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError("reading images needs Pillow: pip install 'softgrad[cli]'") from error
    return Image


def to_bright_on_dark(grey: np.ndarray) -> np.ndarray:
    """Invert a dark-on-light picture (judged by its border, which is background)."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return 1.0 - grey if np.median(border) > 0.5 else grey


def _resize(grey: np.ndarray, height: int, width: int) -> np.ndarray:
    Image = _pillow()
    image = Image.fromarray(np.ascontiguousarray(grey, dtype=np.float32))
    return np.clip(np.asarray(image.resize((width, height), Image.Resampling.LANCZOS)), 0.0, None)


def fit_to_frame(grey: np.ndarray, size: int) -> np.ndarray:
    """The object of a bright-on-dark picture cropped to its bounding box, resized (aspect kept) and placed
    in a size×size frame: for small frames as the 8×8 digits were made (fitted to a frame 4× as large,
    centred by its box, then 4×4 blocks averaged), else as MNIST (fitted to the 20/28 box, centred by its
    centre of mass)."""
    mask = grey > 0.2 * grey.max() if grey.size and grey.max() > 0 else np.zeros(grey.shape, bool)
    if not mask.any():
        return np.zeros((size, size), np.float32)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = grey[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    small = size <= SMALL_FRAME
    canvas = size * SMALL_BLOCK if small else size
    box = canvas if small else round(size * MNIST_BOX_FRACTION)
    scale = box / max(crop.shape)
    height, width = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    resized = _resize(crop, height, width)
    frame = np.zeros((canvas, canvas), np.float32)
    if small:
        top, left = (canvas - height) // 2, (canvas - width) // 2
    else:
        total = resized.sum() or 1.0
        centre_row = (resized.sum(axis=1) * np.arange(height)).sum() / total
        centre_col = (resized.sum(axis=0) * np.arange(width)).sum() / total
        top = int(np.clip(round((canvas - 1) / 2 - centre_row), 0, canvas - height))
        left = int(np.clip(round((canvas - 1) / 2 - centre_col), 0, canvas - width))
    frame[top:top + height, left:left + width] = resized
    if small:
        frame = frame.reshape(size, SMALL_BLOCK, size, SMALL_BLOCK).mean(axis=(1, 3))
    return frame


def read_grey(path) -> np.ndarray:
    """The picture at ``path`` in grey levels in [0, 1]. ValueError naming the file if it is not a picture
    Pillow reads, is truncated or damaged, or has more pixels than the cap allows (``max_bytes() / 16``: a
    decompression bomb is refused from its header, before anything is decoded)."""
    Image = _pillow()
    check_regular_file(path)
    limit = max_bytes() // BYTES_PER_PIXEL
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the cap below decides
            with Image.open(Path(path)) as image:
                width, height = image.size
                if width * height <= limit:
                    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    except Exception as error:  # noqa: BLE001 (Pillow's decoders raise OSError, SyntaxError, struct.error, ...)
        raise ValueError(f"{path}: cannot read it as a picture ({type(error).__name__}: {error}); pass a PNG, JPEG "
                         "or other image file Pillow reads") from None
    raise ValueError(f"{path}: {width}×{height} = {width * height:,} pixels, more than the {limit:,} allowed "
                     f"(SOFTGRAD_MAX_BYTES / {BYTES_PER_PIXEL}); shrink the picture")


def load_image(path, input_shape: tuple[int, int, int]) -> np.ndarray:
    """The image at ``path`` as a float32 array of ``input_shape`` (1, H, W), normalised like the training data."""
    channels, height, width = input_shape
    if channels != 1 or height != width:
        raise ValueError(f"images can be prepared for square grey inputs only, the model expects {input_shape}")
    grey = read_grey(path)
    frame = fit_to_frame(to_bright_on_dark(grey), height)
    peak = frame.max()
    return (frame / peak if peak > 0 else frame)[None].astype(np.float32)
