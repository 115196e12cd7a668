"""Any picture of a digit (or garment) as the network's input: grey, a bright object on a dark background,
cropped to its bounding box, resized and placed as the training images are, values in [0, 1].

Pictures as people make them: a transparent layer is laid over a background that contrasts with its ink
(``grey_levels``), so a digit drawn on a transparent canvas is not lost; a dark-on-light picture is inverted
(``to_bright_on_dark``); the background, even an uneven one (a photo of grey paper under a lamp), is fitted by
a smooth surface and subtracted (``subtract_background``); and a picture in which nothing stands out is
warned about (``BlankImageWarning``), as its prediction would be a guess.

MNIST's convention (LeCun et al.): the digit fitted into a 20×20 box (aspect ratio kept), centred by its
centre of mass in the 28×28 frame. The 8×8 digits are 4×4 block counts of 32×32 bitmaps that the digit fills,
centred by its box.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from softgrad._files import check_regular_file, max_bytes

MNIST_BOX_FRACTION = 20 / 28
SMALL_FRAME = 16  # frames up to this size are made like the 8×8 digits; larger ones like MNIST
SMALL_BLOCK = 4  # the 8×8 digits are 4×4 block sums of 32×32 bitmaps
BYTES_PER_PIXEL = 16  # decoding (up to 4 bytes), grey (1) and float32 (4) copies, and the resize's: the cap / 16
BLANK_CONTRAST = 0.1  # a picture whose ink stands out from its background by less (of the grey range) is blank
FIT_PIXELS = 1 << 16  # the background surface is fitted on about this many pixels (a regular subsample)
LUMINANCE = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, as Pillow's convert('L')


class BlankImageWarning(UserWarning):
    """A picture in which nothing stands out from the background (the prediction for it is a guess)."""


def _pillow():
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError("reading images needs Pillow: pip install 'softgrad[cli]'") from error
    return Image


def grey_levels(image) -> np.ndarray:
    """The Pillow ``image`` in grey levels in [0, 1]. With transparency (an alpha channel, or a palette's
    transparent colour) its pixels are laid over white where the ink (the opaque pixels' mean grey) is dark,
    over black where it is light: the transparent canvas becomes paper that contrasts with the strokes."""
    if image.mode not in ("RGBA", "LA", "PA", "RGBa", "La") and "transparency" not in image.info:
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
    grey, alpha = rgba[..., :3] @ LUMINANCE, rgba[..., 3]
    ink = float((grey * alpha).sum() / alpha.sum()) if alpha.sum() > 0 else 0.0
    return alpha * grey + (1.0 - alpha) * (1.0 if ink < 0.5 else 0.0)


def to_bright_on_dark(grey: np.ndarray) -> np.ndarray:
    """Invert a dark-on-light picture (judged by its border, which is background: its median above mid-grey)."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return 1.0 - grey if np.median(border) > 0.5 else grey


def subtract_background(bright: np.ndarray) -> np.ndarray:
    """``bright`` (a bright object on a darker background) minus its background, clipped at 0. The background
    is a quadratic surface in the pixel coordinates, fitted by least squares to the darkest 30 % of the pixels
    (background, even where the ink covers half of the picture), then three times to all the pixels not above
    the last fit by more than 3 robust deviations (at least 0.02). An even background is a constant and becomes
    0; a lamp's gradient or grey paper's shading goes with it."""
    y, x = (np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in bright.shape)
    y, x = y[:, None], x[None, :]
    step = max(1, math.isqrt(bright.size // FIT_PIXELS))
    values = bright[::step, ::step].ravel().astype(np.float64)
    ys, xs = (grid[::step, ::step].ravel() for grid in np.broadcast_arrays(y, x))
    basis = np.stack([np.ones_like(xs), xs, ys, xs * xs, xs * ys, ys * ys], axis=1)
    keep = values <= np.quantile(values, 0.3)
    for _ in range(4):
        coef = np.linalg.lstsq(basis[keep], values[keep], rcond=None)[0]
        residual = values - basis @ coef
        keep = residual <= max(3 * 1.4826 * np.median(np.abs(residual[keep])), 0.02)
    c = coef.astype(np.float32)
    return np.clip(bright - (c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * x * y + c[5] * y * y), 0.0, None)


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
                    return grey_levels(image)
    except Exception as error:  # noqa: BLE001 (Pillow's decoders raise OSError, SyntaxError, struct.error, ...)
        raise ValueError(f"{path}: cannot read it as a picture ({type(error).__name__}: {error}); pass a PNG, JPEG "
                         "or other image file Pillow reads") from None
    raise ValueError(f"{path}: {width}×{height} = {width * height:,} pixels, more than the {limit:,} allowed "
                     f"(SOFTGRAD_MAX_BYTES / {BYTES_PER_PIXEL}); shrink the picture")


def image_paths(paths) -> list[Path]:
    """``paths`` with each directory replaced by the pictures in it (files whose extension Pillow reads, not
    hidden, sorted by name; subdirectories are not searched). ValueError naming a directory that holds none."""
    extensions = set(_pillow().registered_extensions())
    found = []
    for path in map(Path, paths):
        if not path.is_dir():
            found.append(path)
            continue
        pictures = sorted(p for p in path.iterdir() if p.suffix.lower() in extensions and not p.name.startswith(".")
                          and p.is_file())
        if not pictures:
            raise ValueError(f"{path} is a directory, expected a file or a directory of pictures, but it holds no "
                             "file Pillow reads (.png, .jpg, .bmp, .gif, .tiff, .webp, ...)")
        found += pictures
    return found


def load_image(path, input_shape: tuple[int, int, int]) -> np.ndarray:
    """The image at ``path`` as a float32 array of ``input_shape`` (1, H, W), normalised like the training data."""
    channels, height, width = input_shape
    if channels != 1 or height != width:
        raise ValueError(f"images can be prepared for square grey inputs only, the model expects {input_shape}")
    ink = subtract_background(to_bright_on_dark(read_grey(path)))
    if ink.max(initial=0.0) < BLANK_CONTRAST:
        warnings.warn(f"{path} looks blank: nothing in it stands out from its background by {BLANK_CONTRAST:.0%} of "
                      "the grey range, so its prediction is a guess; check that it is the picture you meant and that "
                      "the digit's colour differs from the background's", BlankImageWarning, stacklevel=2)
    frame = fit_to_frame(ink, height)
    peak = frame.max()
    return (frame / peak if peak > 0 else frame)[None].astype(np.float32)


__all__ = ["load_image", "image_paths", "read_grey", "grey_levels", "to_bright_on_dark", "subtract_background",
           "fit_to_frame", "BlankImageWarning"]
