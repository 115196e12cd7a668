"""Atomic file writes: a reader sees the old file or the complete new one, never a torn half.

Every file softgrad writes (checkpoints, metrics, downloads) goes through here, so a crash or
Ctrl-C mid-write cannot leave a truncated file where a good one used to be.
"""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

_WRITE_MODES = ("wb", "w")


def _default_permissions() -> int:
    """0o666 minus the process umask: what a plain open(path, 'w') would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_NEW_FILE_PERMISSIONS = _default_permissions()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary file beside `path`; on success fsync it and rename it onto `path`.

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
    permissions = target.stat().st_mode & 0o7777 if target.exists() else _NEW_FILE_PERMISSIONS
    tmp = tempfile.NamedTemporaryFile(
        mode,
        dir=target.parent,
        prefix=f".{target.name}.",
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


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace `path` with `data` atomically (see `atomic_open`)."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Replace `path` with `text` encoded as UTF-8, atomically (see `atomic_open`)."""
    with atomic_open(path, "w") as f:
        f.write(text)
