"""read_idx / write_idx: round trips, gzip detection by content, and validation before allocation."""

import gzip
import struct
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from softgrad.data import read_idx, write_idx

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def idx_bytes(code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


@settings(max_examples=40, deadline=None)
@given(
    array=st.sampled_from(IDX_DTYPES).flatmap(
        lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5))
    ),
    compress=st.booleans(),
)
def test_round_trip_preserves_values_dtype_and_shape(tmp_path_factory, array, compress):
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if compress else "a.idx")
    write_idx(path, array)
    loaded = read_idx(path)
    assert loaded.dtype == array.dtype and loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, array)


def test_reads_big_endian_data_hand_written_to_spec(tmp_path):
    path = tmp_path / "values-idx1-int"
    path.write_bytes(idx_bytes(0x0C, (3,), b"\x00\x00\x01\x00" + b"\xff\xff\xff\xfe" + b"\x7f\xff\xff\xff"))
    np.testing.assert_array_equal(read_idx(path), np.array([256, -2, 2**31 - 1], dtype=np.int32))


def test_gzip_is_detected_by_magic_bytes_not_by_file_name(tmp_path):
    data = idx_bytes(0x08, (2, 2), bytes([1, 2, 3, 4]))
    compressed_without_suffix = tmp_path / "images-idx2-ubyte"
    compressed_without_suffix.write_bytes(gzip.compress(data))
    raw_with_gz_suffix = tmp_path / "images-idx2-ubyte.gz"
    raw_with_gz_suffix.write_bytes(data)
    expected = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(compressed_without_suffix), expected)
    np.testing.assert_array_equal(read_idx(raw_with_gz_suffix), expected)


def test_short_payload_names_file_shape_expected_and_actual_sizes(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(0x08, (3, 2, 2), bytes(11))))
    expected_message = r"train-images-idx3-ubyte.gz: header says 3x2x2 uint8 = 12 bytes of data, file holds 11$"
    with pytest.raises(ValueError, match=expected_message):
        read_idx(path)


def test_trailing_bytes_are_an_error(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(idx_bytes(0x08, (4,), bytes(5)))
    with pytest.raises(ValueError, match=r"header says 4 uint8 = 4 bytes of data, file holds more than 4"):
        read_idx(path)


@pytest.mark.parametrize(
    "header, message",
    [
        (b"\x00\x00", r"file is 2 bytes long, too short"),
        (b"\x01\x00\x08\x01", r"not an IDX file: magic starts with bytes 0x01 0x00, expected 0x00 0x00"),
        (b"\x00\x00\x0a\x01", r"dtype code 0x0A is not one of 0x08 \(uint8\), 0x09 \(int8\)"),
        (b"\x00\x00\x08\x00", r"header says 0 dimensions, expected 1 to 4"),
        (b"\x00\x00\x08\x05", r"header says 5 dimensions, expected 1 to 4"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", r"header ends after 4 of the 12 bytes that hold its 3 dimensions"),
        (idx_bytes(0x08, (2, 0), b""), r"header gives shape \(2, 0\); every IDX dimension must be positive"),
    ],
)
def test_malformed_headers_are_rejected_with_file_name(tmp_path, header, message):
    path = tmp_path / "broken.idx"
    path.write_bytes(header)
    with pytest.raises(ValueError, match=r"broken\.idx: .*" + message):
        read_idx(path)


def test_header_claiming_huge_array_fails_fast_without_allocating(tmp_path):
    huge = (2**32 - 1,) * 4  # ~3e38 float64 values
    path = tmp_path / "liar.idx.gz"
    path.write_bytes(gzip.compress(idx_bytes(0x0E, huge, bytes(64))))
    with pytest.raises(ValueError, match=r"liar.idx.gz: the data its header announces \(4294967295x4294967295x"
                                         r"4294967295x4294967295 float64\) is [0-9,]+ bytes, above the cap of "
                                         r"1,073,741,824 bytes; if it is genuine, raise the cap: SOFTGRAD_MAX_BYTES="):
        read_idx(path)


def test_the_byte_cap_is_an_argument_and_an_environment_variable(tmp_path, monkeypatch):
    path = tmp_path / "ten-idx1-ubyte"
    path.write_bytes(idx_bytes(0x08, (10,), bytes(range(10))))
    assert read_idx(path, max_bytes=10).tolist() == list(range(10))
    with pytest.raises(ValueError, match=r"\(10 uint8\) is 10 bytes, above the cap of 9 bytes"):
        read_idx(path, max_bytes=9)
    monkeypatch.setenv("SOFTGRAD_MAX_BYTES", "9")
    with pytest.raises(ValueError, match=r"above the cap of 9 bytes; .* SOFTGRAD_MAX_BYTES=10$"):
        read_idx(path)
    monkeypatch.setenv("SOFTGRAD_MAX_BYTES", "lots")
    with pytest.raises(ValueError, match=r"SOFTGRAD_MAX_BYTES must be a positive whole number of bytes .*, got 'lots'"):
        read_idx(path)


def test_gzip_bomb_behind_small_header_is_not_read_to_the_end(tmp_path):
    one_mebibyte_of_zeros = gzip.compress(bytes(1 << 20))  # concatenated gzip members decompress back to back
    path = tmp_path / "bomb-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(0x08, (10,), b"")) + one_mebibyte_of_zeros * 4096)  # 4 GiB inflated
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"10 bytes of data, file holds more than 10"):
        read_idx(path)
    assert time.perf_counter() - started < 1.0


def test_corrupt_gzip_stream_is_a_value_error_naming_the_file(tmp_path):
    compressed = bytearray(gzip.compress(idx_bytes(0x08, (100,), bytes(range(100)))))
    compressed[20:30] = b"\xff" * 10
    path = tmp_path / "corrupt.gz"
    path.write_bytes(bytes(compressed))
    with pytest.raises(ValueError, match=r"corrupt\.gz: "):
        read_idx(path)


def test_write_rejects_dtypes_and_shapes_idx_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match=r"dtype int64 has no IDX code; cast the array to one of"):
        write_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"shape \(\) cannot be stored"):
        write_idx(tmp_path / "x.idx", np.float32(1.0))
    with pytest.raises(ValueError, match=r"shape \(1, 1, 1, 1, 1\) cannot be stored"):
        write_idx(tmp_path / "x.idx", np.zeros((1,) * 5, dtype=np.uint8))
    assert not (tmp_path / "x.idx").exists()


def test_gzip_output_carries_no_timestamp_so_checksums_are_stable(tmp_path):
    write_idx(tmp_path / "a.gz", np.arange(20, dtype=np.int16).reshape(4, 5))
    assert (tmp_path / "a.gz").read_bytes()[4:8] == bytes(4)  # gzip header MTIME field
