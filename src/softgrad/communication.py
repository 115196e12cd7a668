"""The processes that train together, with MindSpore's names (``mindspore.communication``): ``init()``,
``get_rank()``, ``get_group_size()``, and the few collectives data-parallel training needs, on MPI (mpi4py).

Without a launcher nothing changes: the world is this one process (rank 0 of 1), every collective is a no-op,
and mpi4py is never imported (it is an optional extra, ``pip install 'softgrad[dist]'``). Under a launcher
(``mpiexec -n 4 ...``, which sets ``PMI_SIZE`` or Open MPI's ``OMPI_COMM_WORLD_SIZE``) ``init()`` joins
``MPI.COMM_WORLD``. The launcher's variables are read first so that a single process never pays for, or
depends on, MPI.

A rank that raises must not leave the others blocked in an allreduce: once the world has several processes,
an uncaught exception prints its traceback under the rank's name and aborts the communicator (``abort``),
which ends every rank of the job with a non-zero status.

Differences from MindSpore: ``get_rank()`` and ``get_group_size()`` call ``init()`` themselves when it has not
been called (MindSpore raises), and there is one group, the world (no ``group`` argument).
"""

from __future__ import annotations

import os
import sys
import time
import traceback

import numpy as np

#: environment variables a launcher sets, with the number of processes it started
LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE")
BACKENDS = (None, "mpi")
# MPI_Abort races the launcher's forwarding of this rank's stderr: Hydra (mpich's mpiexec) can kill the job before
# it has read what the rank printed last, and the error is lost (about 1 launch in 30 here). A short wait first
# lets it drain the pipe; no lost message in 250 launches under load.
ABORT_GRACE_SECONDS = 0.25

_world: dict = {"initialised": False, "comm": None, "rank": 0, "size": 1}


def launcher_size() -> int:
    """The number of processes the launcher started (1 without a launcher), read from its variables alone."""
    for name in LAUNCHER_SIZE_VARIABLES:
        value = os.environ.get(name)
        if value is not None:
            try:
                return int(value)
            except ValueError:
                raise ValueError(f"the launcher variable {name} must be a process count, got {value!r}") from None
    return 1


def init(backend_name: str | None = None) -> None:
    """Join the processes the launcher started (MindSpore's ``init``; the only backend is ``'mpi'``). Calling it
    again does nothing. Without a launcher the world is this process alone and mpi4py is not imported; under one
    that started several processes, a missing mpi4py is an ImportError (training N copies side by side, each
    writing the same files, would be worse)."""
    if backend_name not in BACKENDS:
        raise ValueError(f"init: backend_name must be None or 'mpi' (softgrad communicates through MPI), got "
                         f"{backend_name!r}")
    if _world["initialised"]:
        return
    size = launcher_size()
    if size > 1:
        try:
            from mpi4py import MPI
        except ImportError as error:
            raise ImportError(f"the launcher started {size} processes, but mpi4py is not installed: "
                              "pip install 'softgrad[dist]' (mpi4py and mpich)") from error
        comm = MPI.COMM_WORLD
        _world.update(comm=comm, rank=comm.Get_rank(), size=comm.Get_size())
        sys.excepthook = _abort_on_uncaught
    _world["initialised"] = True


def get_rank() -> int:
    """This process's rank, 0 ... get_group_size() − 1 (0 without a launcher)."""
    init()
    return _world["rank"]


def get_group_size() -> int:
    """The number of processes training together (1 without a launcher)."""
    init()
    return _world["size"]


def _comm():
    init()
    return _world["comm"]


def allreduce_sum_(buffer: np.ndarray) -> np.ndarray:
    """Replace ``buffer`` (contiguous) by its sum over the ranks, in place, and return it."""
    comm = _comm()
    if comm is not None:
        from mpi4py import MPI

        comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
    return buffer


def broadcast_(buffer: np.ndarray, root: int = 0) -> np.ndarray:
    """Overwrite ``buffer`` (contiguous) on every rank with rank ``root``'s, in place, and return it."""
    comm = _comm()
    if comm is not None:
        comm.Bcast(buffer, root=root)
    return buffer


def broadcast_object(value, root: int = 0):
    """Rank ``root``'s ``value`` (any picklable object: an optimizer's state), on every rank."""
    comm = _comm()
    return value if comm is None else comm.bcast(value, root=root)


def allgather_object(value) -> list:
    """Every rank's ``value``, in rank order, on every rank."""
    comm = _comm()
    return [value] if comm is None else comm.allgather(value)


def abort(message: str, code: int = 1) -> None:
    """Print ``message`` under this rank's name and end every rank of the job with status ``code`` (MPI_Abort):
    the way out of a failure that the other ranks cannot know about. Without a launcher, or before ``init()``,
    SystemExit(code)."""
    comm = _world["comm"]
    prefix = f"rank {_world['rank']} of {_world['size']}: " if comm is not None else ""
    print(prefix + message, file=sys.stderr, flush=True)
    if comm is None:
        raise SystemExit(code)
    time.sleep(ABORT_GRACE_SECONDS)
    comm.Abort(code)


def _abort_on_uncaught(kind, error, trace) -> None:
    """``sys.excepthook`` under MPI: the traceback, then the whole job ends (rather than hanging in a collective)."""
    abort("".join(traceback.format_exception(kind, error, trace)).rstrip() + "\naborting every rank of the job", 1)


__all__ = [
    "launcher_size", "init", "get_rank", "get_group_size", "allreduce_sum_", "broadcast_", "broadcast_object",
    "allgather_object", "abort",
]
