"""Files softgrad writes and reads: atomic writes, bounded reads, and the one size cap.

Writes. Every file softgrad writes (checkpoints, metrics, downloads) goes through ``atomic_open``: a reader
sees the old file or the complete new one, never a torn half, even after a crash or Ctrl-C mid-write. The
temporary file is named ``.<name>.<pid>.<random>.tmp``; one left behind by a killed process (SIGKILL gives no
chance to clean up) is removed by the next save into that directory, or by ``remove_stale_temp_files``. So is
one of the naming older softgrad versions used, ``.<name>.<random>.tmp``: it names no process, so it counts as
left behind once nothing has written to it for ``OLD_TEMP_FILE_AGE`` seconds (a write in progress keeps
touching its file, and renames it the moment it is done).

Reads. Nothing is read or allocated on a file's say-so past ``max_bytes()``: 1 GiB by default, twenty times
MNIST's largest file (47 MB) and far below a machine's memory; ``$SOFTGRAD_MAX_BYTES`` raises (or lowers) it.
``read_bounded`` reads regular files only (not a directory, a device such as /dev/zero, or a pipe) and checks
their size before reading a byte.
"""

import contextlib
import errno
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

_WRITE_MODES = ("wb", "w")
MAX_BYTES_VARIABLE = "SOFTGRAD_MAX_BYTES"
DEFAULT_MAX_BYTES = 1 << 30
_TEMP_NAME = re.compile(r"\..+\.(?P<pid>\d+)\.[a-z0-9_]{8}\.tmp")  # what atomic_open names its temporary files
_OLD_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")  # its names before they carried the pid
OLD_TEMP_FILE_AGE = 600.0  # seconds untouched after which a temporary file of the old naming is stale


def _default_permissions() -> int:
    """0o666 minus the process umask: what a plain open(path, 'w') would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_NEW_FILE_PERMISSIONS = _default_permissions()


# ----- the size cap -----


def max_bytes() -> int:
    """The most bytes softgrad reads from one file or allocates because a file says so: ``$SOFTGRAD_MAX_BYTES``,
    else ``DEFAULT_MAX_BYTES`` (1 GiB)."""
    text = os.environ.get(MAX_BYTES_VARIABLE)
    if text is None:
        return DEFAULT_MAX_BYTES
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{MAX_BYTES_VARIABLE} must be a positive whole number of bytes such as "
                         f"{2 * DEFAULT_MAX_BYTES}, got {text!r}")
    return value


def check_size(what: str, size: int, limit: int | None = None) -> None:
    """Raise ValueError if ``size`` bytes of ``what`` exceed ``limit`` (default ``max_bytes()``)."""
    limit = max_bytes() if limit is None else limit
    if size > limit:
        raise ValueError(f"{what} is {size:,} bytes, above the cap of {limit:,} bytes; if it is genuine, raise the "
                         f"cap: {MAX_BYTES_VARIABLE}={size}")


# ----- bounded reads -----


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a pipe"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_regular_file(path: str | os.PathLike) -> int:
    """The size of the regular file at ``path`` (symlinks followed); ValueError naming it if it is a directory,
    a device or a pipe, FileNotFoundError if it does not exist."""
    mode = os.stat(path)
    if not stat.S_ISREG(mode.st_mode):
        raise ValueError(f"{path} is {_kind(mode.st_mode)}, expected a file")
    return mode.st_size


def read_bounded(path: str | os.PathLike, limit: int | None = None) -> bytes:
    """The bytes of the regular file at ``path``, refused (ValueError naming the file) before anything is read
    if it is not a regular file or holds more than ``limit`` bytes (default ``max_bytes()``)."""
    limit = max_bytes() if limit is None else limit
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # O_NONBLOCK: opening a pipe must not wait for a writer
    try:
        mode = os.fstat(fd)
        if not stat.S_ISREG(mode.st_mode):
            raise ValueError(f"{path} is {_kind(mode.st_mode)}, expected a file")
        check_size(str(path), mode.st_size, limit)
        with open(fd, "rb", closefd=False) as f:
            data = f.read(mode.st_size)  # (read(limit) would allocate the whole limit up front)
            if len(data) != mode.st_size or f.read(1):
                raise ValueError(f"{path} changed while it was read ({mode.st_size:,} bytes when opened); try again")
    finally:
        os.close(fd)
    return data


# ----- atomic writes -----


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    except OverflowError:  # not a pid at all
        return False
    return True


def _is_stale(entry: os.DirEntry, now: float) -> bool:
    """Whether ``entry`` is a temporary file of ``atomic_open`` whose writer is gone: the pid in its name is not
    running, or (the older naming, without a pid) it has not been modified for ``OLD_TEMP_FILE_AGE`` seconds."""
    match = _TEMP_NAME.fullmatch(entry.name)
    if match:
        return not _process_exists(int(match["pid"]))
    if not _OLD_TEMP_NAME.fullmatch(entry.name):
        return False
    try:
        mode = entry.stat(follow_symlinks=False)
    except OSError:  # removed meanwhile
        return False
    return stat.S_ISREG(mode.st_mode) and now - mode.st_mtime > OLD_TEMP_FILE_AGE


def remove_stale_temp_files(directory: str | os.PathLike) -> list[Path]:
    """Delete the temporary files ``atomic_open`` left in ``directory`` when its process was killed (the pid in
    their name is gone; for the older names without a pid, untouched for ``OLD_TEMP_FILE_AGE`` seconds); return
    them. Files of running processes, recent ones of the old naming and all other files are left alone."""
    removed, now = [], time.time()
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            if _is_stale(entry, now):
                with contextlib.suppress(OSError):  # a read-only directory, or another cleaner was first
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable: without it a power cut can lose the new name."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary file beside `path`; on success fsync it, rename it onto `path` and fsync the directory.

    If the block raises, the temporary file is deleted and `path` is left as it was.
    Parent directories are created. Text mode ('w') writes UTF-8.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     target = pathlib.Path(tmp, "sub", "notes.txt")
    ...     with atomic_open(target, "w") as f:
    ...         _ = f.write("hello")
    ...     target.read_text()
    'hello'
    """
    if mode not in _WRITE_MODES:
        raise ValueError(f"atomic_open: mode must be one of {_WRITE_MODES}, got {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(target.parent)
    permissions = target.stat().st_mode & 0o7777 if target.exists() else _NEW_FILE_PERMISSIONS
    tmp = tempfile.NamedTemporaryFile(
        mode,
        dir=target.parent,
        prefix=f".{target.name}.{os.getpid()}.",
        suffix=".tmp",
        delete=False,
        encoding=None if "b" in mode else "utf-8",
    )
    try:
        with tmp:
            yield tmp
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp.name, permissions)
        os.replace(tmp.name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp.name)
        raise
    _fsync_directory(target.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace `path` with `data` atomically (see `atomic_open`)."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Replace `path` with `text` encoded as UTF-8, atomically (see `atomic_open`)."""
    with atomic_open(path, "w") as f:
        f.write(text)


def check_writable(directory: str | os.PathLike, needed_bytes: int = 0) -> None:
    """Create ``directory`` if needed and make sure a file can be written in it and ``needed_bytes`` are free:
    the OSError of the failed attempt, or OSError(ENOSPC) naming the free and the needed space."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=directory) as probe:  # unnamed, gone when closed
        probe.write(b"\0")
        probe.flush()
    usage = os.statvfs(directory)
    free = usage.f_bavail * usage.f_frsize
    if free < needed_bytes:
        raise OSError(errno.ENOSPC, f"{directory} has {free:,} bytes free, about {needed_bytes:,} are needed")
