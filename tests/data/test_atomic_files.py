"""softgrad._files: a failed write must leave the old file intact and no temporary files behind."""

import os
import stat

import pytest

from softgrad._files import atomic_open, atomic_write_bytes, atomic_write_text


def test_write_bytes_creates_parent_directories(tmp_path):
    target = tmp_path / "a" / "b" / "blob.bin"
    atomic_write_bytes(target, b"\x00\x01\x02")
    assert target.read_bytes() == b"\x00\x01\x02"
    assert os.listdir(target.parent) == ["blob.bin"]


def test_write_text_replaces_existing_file_as_utf8(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("old")
    atomic_write_text(target, "grüße ∂")
    assert target.read_bytes() == "grüße ∂".encode("utf-8")


def test_crash_mid_write_keeps_old_file_and_removes_temp_file(tmp_path):
    target = tmp_path / "checkpoint.bin"
    target.write_bytes(b"good old contents")
    with pytest.raises(RuntimeError, match="power cut"):
        with atomic_open(target) as f:
            f.write(b"half of the new")
            raise RuntimeError("power cut")
    assert target.read_bytes() == b"good old contents"
    assert os.listdir(tmp_path) == ["checkpoint.bin"]


def test_interrupt_before_first_write_leaves_no_file(tmp_path):
    target = tmp_path / "metrics.json"
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(target, "w"):
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_replacing_keeps_permissions_of_existing_file(tmp_path):
    target = tmp_path / "shared.txt"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write_text(target, "new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_new_file_gets_umask_permissions_not_private_tempfile_ones(tmp_path):
    atomic_write_text(tmp_path / "via_atomic.txt", "x")
    (tmp_path / "via_open.txt").write_text("x")
    mode = lambda name: stat.S_IMODE((tmp_path / name).stat().st_mode)  # noqa: E731
    assert mode("via_atomic.txt") == mode("via_open.txt")


def test_read_or_append_modes_are_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"mode must be one of \('wb', 'w'\), got 'ab'"):
        with atomic_open(tmp_path / "x", "ab"):
            pass
    assert os.listdir(tmp_path) == []
