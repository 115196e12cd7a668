"""softgrad._files: a failed write must leave the old file intact and no temporary files behind (even after a
SIGKILL, by the next save); reads are bounded and of regular files only."""

import os
import signal
import stat
import subprocess
import sys
import time
import types

import pytest

from softgrad._files import (OLD_TEMP_FILE_AGE, atomic_open, atomic_write_bytes, atomic_write_text, check_writable,
                             read_bounded, remove_stale_temp_files)


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


def test_the_directory_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic_write_bytes(tmp_path / "a.bin", b"x")
    assert synced == [False, True]  # the file's data, then the directory entry of its new name


def test_temp_files_of_a_killed_save_are_removed_by_the_next_save(tmp_path):
    """SIGKILL mid-write leaves the temporary file behind (no handler runs); the next save cleans it up, and
    leaves alone the temporary files of live processes and files that merely look similar."""
    target = tmp_path / "checkpoint.safetensors"
    code = ("import sys, time; from softgrad._files import atomic_open\n"
            f"with atomic_open({str(target)!r}) as f:\n"
            "    f.write(b'half'); f.flush(); print('writing', flush=True); time.sleep(60)\n")
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "writing\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    (stale,) = tmp_path.iterdir()
    assert stale.name.startswith(".checkpoint.safetensors.") and stale.name.endswith(".tmp")
    live = tmp_path / f".metrics.json.{os.getpid()}.abcd1234.tmp"  # a save in progress in this process
    lookalike = tmp_path / ".notes.12.tmp"
    live.write_bytes(b"")
    lookalike.write_bytes(b"")
    atomic_write_bytes(tmp_path / "other.bin", b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, lookalike.name, "other.bin"])
    live.unlink()
    (tmp_path / "killed-again").write_bytes(b"")
    (tmp_path / ".x.999999999.abcd1234.tmp").write_bytes(b"")  # no such process
    assert remove_stale_temp_files(tmp_path) == [tmp_path / ".x.999999999.abcd1234.tmp"]


def test_temp_files_of_the_older_naming_are_removed_once_untouched(tmp_path):
    """Before the pid was in the name, atomic_open wrote .<name>.<random>.tmp: such a file is left behind once
    nothing has written to it for OLD_TEMP_FILE_AGE seconds; a recent one may be an older version's save in
    progress, and a directory or a name of another shape is not ours."""
    old = time.time() - OLD_TEMP_FILE_AGE - 60
    for name in (".model.safetensors.k3x_9q2a.tmp", ".checkpoint.safetensors.abcdefgh.tmp", ".recent.json.zz99aa11.tmp",
                 ".notes.12.tmp", ".short.abc.tmp", "model.safetensors.abcdefgh.tmp"):
        (tmp_path / name).write_bytes(b"half")
        if name != ".recent.json.zz99aa11.tmp":
            os.utime(tmp_path / name, (old, old))
    (tmp_path / ".dir.abcdefgh.tmp").mkdir()
    os.utime(tmp_path / ".dir.abcdefgh.tmp", (old, old))
    atomic_write_bytes(tmp_path / "metrics.json", b"{}")  # a save cleans its directory
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([
        ".recent.json.zz99aa11.tmp", ".notes.12.tmp", ".short.abc.tmp", "model.safetensors.abcdefgh.tmp",
        ".dir.abcdefgh.tmp", "metrics.json"])
    os.utime(tmp_path / ".recent.json.zz99aa11.tmp", (old, old))
    assert remove_stale_temp_files(tmp_path) == [tmp_path / ".recent.json.zz99aa11.tmp"]


@pytest.mark.parametrize("make, kind", [(lambda p: p.mkdir(), "a directory"),
                                        (lambda p: p.symlink_to("/dev/zero"), "a character device"),
                                        (lambda p: os.mkfifo(p), "a pipe")])
def test_bounded_reads_refuse_what_is_not_a_regular_file(tmp_path, make, kind):
    make(tmp_path / "config.json")
    with pytest.raises(ValueError, match=f"config.json is {kind}, expected a file"):
        read_bounded(tmp_path / "config.json")


def test_bounded_reads_check_the_size_before_reading(tmp_path):
    sparse = tmp_path / "model.safetensors"
    with open(sparse, "wb") as f:
        f.truncate(8 << 30)  # 8 GiB of holes: no disk used, but a full read would allocate it all
    with pytest.raises(ValueError, match=r"model.safetensors is 8,589,934,592 bytes, above the cap of "
                                         r"1,073,741,824 bytes; if it is genuine, raise the cap: SOFTGRAD_MAX_BYTES="):
        read_bounded(sparse)
    small = tmp_path / "small"
    small.write_bytes(b"12345")
    assert read_bounded(small, limit=5) == b"12345"
    with pytest.raises(ValueError, match="small is 5 bytes, above the cap of 4 bytes"):
        read_bounded(small, limit=4)


def test_check_writable_reports_a_full_disk(tmp_path, monkeypatch):
    check_writable(tmp_path / "new", needed_bytes=1)
    assert (tmp_path / "new").is_dir() and os.listdir(tmp_path / "new") == []
    monkeypatch.setattr(os, "statvfs", lambda path: types.SimpleNamespace(f_bavail=0, f_frsize=4096))
    with pytest.raises(OSError, match=r"new has 0 bytes free, about 1,000 are needed"):
        check_writable(tmp_path / "new", needed_bytes=1000)
