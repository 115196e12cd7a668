"""Read and write IDX files, the format MNIST and Fashion-MNIST ship in.

Layout: two zero bytes, a dtype code, the number of dimensions, then each dimension as a
big-endian uint32, then the data in big-endian C order. Files may be gzip-compressed.

The header is validated before anything is allocated: the size it announces must not exceed
`max_bytes` (default `softgrad._files.max_bytes()`, 1 GiB, raised with $SOFTGRAD_MAX_BYTES), and the
payload is read, and decompressed, only up to (that size + 1) bytes. So a damaged or lying header
gives a clear ValueError instead of a gigabyte allocation or an endless read.
"""

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from softgrad._files import atomic_write_bytes, check_size

# IDX dtype code -> big-endian dtype of the stored values.
_DTYPE_OF_CODE = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_KIND_AND_SIZE = {(dtype.kind, dtype.itemsize): code for code, dtype in _DTYPE_OF_CODE.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_NDIM = 4
_CHUNK_BYTES = 1 << 20


def _describe_codes() -> str:
    return ", ".join(f"0x{code:02X} ({dtype.newbyteorder('=').name})" for code, dtype in _DTYPE_OF_CODE.items())


def _read_header(stream, name: str) -> tuple[np.dtype, tuple[int, ...]]:
    magic = stream.read(4)
    if len(magic) < 4:
        raise ValueError(f"{name}: file is {len(magic)} bytes long, too short for the 4-byte IDX magic number")
    zero_a, zero_b, code, ndim = magic
    if (zero_a, zero_b) != (0, 0):
        raise ValueError(
            f"{name}: not an IDX file: magic starts with bytes 0x{zero_a:02X} 0x{zero_b:02X}, expected 0x00 0x00"
        )
    if code not in _DTYPE_OF_CODE:
        raise ValueError(f"{name}: IDX dtype code 0x{code:02X} is not one of {_describe_codes()}")
    if not 1 <= ndim <= _MAX_NDIM:
        raise ValueError(f"{name}: IDX header says {ndim} dimensions, expected 1 to {_MAX_NDIM}")
    raw_dims = stream.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise ValueError(
            f"{name}: header ends after {len(raw_dims)} of the {4 * ndim} bytes that hold its {ndim} dimensions"
        )
    shape = struct.unpack(f">{ndim}I", raw_dims)
    if 0 in shape:
        raise ValueError(f"{name}: header gives shape {shape}; every IDX dimension must be positive")
    return _DTYPE_OF_CODE[code], shape


def _describe(shape: tuple[int, ...], dtype: np.dtype) -> str:
    return "x".join(map(str, shape)) + " " + dtype.newbyteorder("=").name


def _read_payload(stream, expected_bytes: int) -> bytearray:
    """Read at most expected_bytes + 1 bytes: enough to tell 'too short', 'exact' and 'too long' apart."""
    payload = bytearray()
    while len(payload) <= expected_bytes:
        chunk = stream.read(min(_CHUNK_BYTES, expected_bytes + 1 - len(payload)))
        if not chunk:
            break
        payload += chunk
    return payload


def read_idx(path: str | os.PathLike, max_bytes: int | None = None) -> np.ndarray:
    """Read an IDX file (raw or gzip, told apart by magic bytes) into a native-endian array.

    Raises ValueError naming the file, the expected and the actual value if the header is
    malformed, announces more than `max_bytes` of data (default `softgrad._files.max_bytes()`),
    or the data does not match the header's shape; OSError if the file cannot be opened.
    """
    path = Path(path)
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if is_gzip else raw
        try:
            dtype, shape = _read_header(stream, str(path))
            expected_bytes = math.prod(shape) * dtype.itemsize
            check_size(f"{path}: the data its header announces ({_describe(shape, dtype)})", expected_bytes,
                       max_bytes)
            payload = _read_payload(stream, expected_bytes)
        except (OSError, EOFError, zlib.error) as error:  # corrupt or truncated gzip stream
            raise ValueError(f"{path}: cannot read IDX data: {error}") from error
    if len(payload) != expected_bytes:
        holds = f"more than {expected_bytes}" if len(payload) > expected_bytes else str(len(payload))
        raise ValueError(
            f"{path}: header says {_describe(shape, dtype)} = {expected_bytes} bytes of data, file holds {holds}"
        )
    return np.frombuffer(payload, dtype=dtype).astype(dtype.newbyteorder("="), copy=False).reshape(shape)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write `array` as an IDX file, gzip-compressed when `path` ends in '.gz'; atomic.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp, "small-idx2-ubyte.gz")
    ...     write_idx(path, np.arange(6, dtype=np.uint8).reshape(2, 3))
    ...     read_idx(path)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    array = np.asarray(array)
    code = _CODE_OF_KIND_AND_SIZE.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise ValueError(
            f"write_idx: array dtype {array.dtype} has no IDX code; cast the array to one of {_describe_codes()}"
        )
    if not 1 <= array.ndim <= _MAX_NDIM or 0 in array.shape or max(array.shape) >= 2**32:
        raise ValueError(
            f"write_idx: array shape {array.shape} cannot be stored; IDX needs 1 to {_MAX_NDIM} dimensions, "
            "each between 1 and 2**32 - 1"
        )
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=_DTYPE_OF_CODE[code]).tobytes()
    if Path(path).suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    atomic_write_bytes(path, data)


__all__ = ["read_idx", "write_idx"]
