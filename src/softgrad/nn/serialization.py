"""Saving and loading a Cell's Parameters: MindSpore's ``save_checkpoint`` / ``load_checkpoint`` /
``load_param_into_net`` (also ``softgrad.save_checkpoint`` ...), over safetensors files (no pickle: a file
holds arrays and strings, never code to run).

>>> import tempfile, pathlib
>>> import softgrad as sg
>>> net = sg.nn.SequentialCell(sg.nn.Dense(3, 2), sg.nn.BatchNorm1d(2))
>>> with tempfile.TemporaryDirectory() as tmp:
...     save_checkpoint(net, pathlib.Path(tmp, "net.safetensors"))
...     params = load_checkpoint(pathlib.Path(tmp, "net.safetensors"))
>>> sorted(params)
['0.bias', '0.weight', '1.beta', '1.gamma', '1.moving_mean', '1.moving_variance']
>>> load_param_into_net(sg.nn.SequentialCell(sg.nn.Dense(3, 2), sg.nn.BatchNorm1d(2)), params)
([], [])

Every Parameter is saved, trainable or not (BatchNorm's moving statistics), named by its path. Files are
written atomically (``softgrad._files.atomic_write_bytes``: a reader sees the old file or the new one). Reading
is bounded and checked before anything is decoded (``read_safetensors``): the file's size against the cap
(``softgrad._files.max_bytes()``), then the header's dtypes, shapes and offsets. Loading into a Cell checks
names, shapes and dtypes (``Cell.load_state_dict``) and never casts.

safetensors is imported when a file is read or written (it comes with ``pip install 'softgrad[cli]'``).
"""

from __future__ import annotations

import json
import math
import os
import struct
import warnings
from collections.abc import Callable, Mapping

import numpy as np

from softgrad._files import atomic_write_bytes, read_bounded
from softgrad.nn.cell import Cell, load_state
from softgrad.tensor import Parameter, as_array

# the safetensors dtypes NumPy holds (BF16 and the FP8 types it has none for)
NUMPY_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "I64": "int64", "I32": "int32", "I16": "int16",
                "I8": "int8", "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool"}
_DAMAGED = "the file is damaged or truncated: write it again (or restore it)"


def _safetensors():
    try:
        import safetensors
        import safetensors.numpy
    except ImportError as error:
        raise ImportError("saving and loading checkpoints needs safetensors: pip install safetensors (or "
                          "'softgrad[cli]')") from error
    return safetensors


# ----- safetensors files, written atomically and read with a bound -----


def write_safetensors(path, tensors: Mapping[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Replace the file at ``path`` atomically with ``tensors`` (name → ndarray) and string ``metadata``."""
    arrays = {name: np.ascontiguousarray(array) for name, array in tensors.items()}
    atomic_write_bytes(path, _safetensors().numpy.save(arrays, metadata=metadata))


def _header(path, data: bytes) -> dict:
    """The JSON header of the safetensors bytes ``data``, which must be an object."""
    if len(data) < 8:
        raise ValueError(f"{path}: {len(data)} bytes, too short for a safetensors file; {_DAMAGED}")
    (header_bytes,) = struct.unpack("<Q", data[:8])
    if header_bytes > len(data) - 8:
        raise ValueError(f"{path}: its header claims {header_bytes:,} bytes, the file holds {len(data) - 8:,} after "
                         f"the length; {_DAMAGED}")
    try:  # (a NaN or Infinity, which json accepts, fails the checks of the entry or metadata it is in)
        header = json.loads(data[8:8 + header_bytes])
    except (ValueError, RecursionError) as error:
        raise ValueError(f"{path} (safetensors header): not valid JSON ({error}); {_DAMAGED}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the safetensors header must be a JSON object, got {type(header).__name__}; "
                         f"{_DAMAGED}")
    return header


def _check_entry(where: str, entry, data_bytes: int) -> None:
    """One tensor's header entry: a dtype NumPy holds, a shape of sizes and offsets that span its bytes."""
    entry = entry if isinstance(entry, dict) else {}
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not (isinstance(dtype, str) and dtype in NUMPY_DTYPES):
        raise ValueError(f"{where} is stored as {dtype if isinstance(dtype, str) else repr(dtype)[:40]}; softgrad "
                         f"reads {', '.join(NUMPY_DTYPES)} and its models hold F32: convert the tensor to float32 "
                         "before saving")

    def sizes(value) -> bool:
        return isinstance(value, list) and all(type(n) is int and n >= 0 for n in value)

    if not sizes(shape):
        raise ValueError(f"{where}: shape must be a list of sizes >= 0, got {repr(shape)[:80]}; {_DAMAGED}")
    if not (sizes(offsets) and len(offsets) == 2 and offsets[0] <= offsets[1] <= data_bytes):
        raise ValueError(f"{where}: data_offsets must be [begin, end] within the {data_bytes:,} bytes of data, "
                         f"got {repr(offsets)[:80]}; {_DAMAGED}")
    size = math.prod(shape) * np.dtype(NUMPY_DTYPES[dtype]).itemsize
    if offsets[1] - offsets[0] != size:
        raise ValueError(f"{where}: shape {shape} of {dtype} takes {size:,} bytes, its offsets span "
                         f"{offsets[1] - offsets[0]:,}; {_DAMAGED}")


def read_safetensors(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors and metadata of the safetensors file at ``path``: read with a bound (``read_bounded``),
    every header entry checked before anything is decoded; ValueError naming the file and the tensor."""
    safetensors = _safetensors()
    data = read_bounded(path)
    header = _header(path, data)
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(f"{path}: the safetensors metadata must map names to strings; {_DAMAGED}")
    data_bytes = len(data) - 8 - struct.unpack("<Q", data[:8])[0]
    for name, entry in header.items():
        _check_entry(f"{path}: tensor '{name}'", entry, data_bytes)
    try:
        tensors = safetensors.numpy.load(data)
    except safetensors.SafetensorError as error:
        raise ValueError(f"{path}: not a valid safetensors file ({error}); write it again (or restore it)") from None
    return tensors, metadata


# ----- MindSpore's API -----


def _check_file_name(name: str, value) -> None:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file name (a str or a path), got {type(value).__name__} {value!r:.80}")


def _check_choice_func(choice_func) -> None:
    if choice_func is not None and not callable(choice_func):
        raise TypeError("choice_func must be None or a function of a parameter name returning True to keep it, "
                        f"got {type(choice_func).__name__} {choice_func!r:.80}")


def _named_arrays(save_obj) -> dict[str, np.ndarray]:
    """What ``save_checkpoint`` saves: a Cell's ``state_dict()``, a dict of name → Tensor (as ``load_checkpoint``
    returns), or a list of named Parameters (``net.trainable_params()``) or of {"name": ..., "data": ...}."""
    if isinstance(save_obj, Cell):
        named = save_obj.parameters_dict()
    elif isinstance(save_obj, Mapping):
        named = save_obj
    elif isinstance(save_obj, (list, tuple)):
        named = {}
        for i, item in enumerate(save_obj):
            if isinstance(item, Mapping):
                name, data = item.get("name"), item.get("data")
            else:
                name, data = (item.name if isinstance(item, Parameter) else None), item
            if not isinstance(name, str) or name in named:
                raise ValueError(f"save_obj[{i}] must be a named Parameter or {{'name': str, 'data': Tensor}} with "
                                 f"a name of its own, got {item!r:.80}; name each Parameter (Parameter(x, name='w'))")
            named[name] = data
    else:
        raise TypeError("save_obj must be a Cell, a dict of name -> Tensor or a list of named Parameters, got "
                        f"{type(save_obj).__name__} {save_obj!r:.80}")
    return {str(name): as_array(value, name=f"save_obj['{name}']") for name, value in named.items()}


def save_checkpoint(save_obj, ckpt_file_name, *, choice_func: Callable[[str], bool] | None = None) -> None:
    """Save the Parameters of ``save_obj`` (a Cell: every Parameter, trainable or not; a dict of name →
    Tensor; a list of named Parameters) to the safetensors file ``ckpt_file_name``, atomically, in their
    dtypes. ``choice_func(name)`` returning False leaves a Parameter out. MindSpore's signature, without its
    parallel, asynchronous and encryption options; the file is the name given (MindSpore appends '.ckpt')."""
    _check_file_name("ckpt_file_name", ckpt_file_name)
    _check_choice_func(choice_func)
    arrays = _named_arrays(save_obj)
    write_safetensors(ckpt_file_name, {name: array for name, array in arrays.items()
                                       if choice_func is None or choice_func(name)})


def load_checkpoint(ckpt_file_name, net: Cell | None = None, strict_load: bool = False, *,
                    choice_func: Callable[[str], bool] | None = None) -> dict[str, Parameter]:
    """The Parameters saved in ``ckpt_file_name``, name → Parameter (``choice_func(name)`` False leaves one
    out), and, with ``net``, loaded into it (``load_param_into_net(net, params, strict_load)``). The file is
    read with a bound and checked before anything is decoded (see the module's docstring)."""
    _check_file_name("ckpt_file_name", ckpt_file_name)
    _check_choice_func(choice_func)
    if net is not None and not isinstance(net, Cell):
        raise TypeError(f"net must be None or the Cell to load into, got {type(net).__name__} {net!r:.80}")
    tensors, _ = read_safetensors(ckpt_file_name)
    params = {name: Parameter(array, name=name) for name, array in tensors.items()
              if choice_func is None or choice_func(name)}
    if net is not None:
        _load(net, params, strict_load, source=str(ckpt_file_name))
    return params


def load_param_into_net(net: Cell, parameter_dict, strict_load: bool = False) -> tuple[list[str], list[str]]:
    """Set ``net``'s Parameters from ``parameter_dict`` (name → Parameter, Tensor or ndarray, as
    ``load_checkpoint`` returns); return MindSpore's ``(param_not_load, ckpt_not_load)``: the net's names the
    dict lacks and the dict's names the net lacks, with a warning naming them. ``strict_load=True`` refuses
    any such difference instead. Shapes and dtypes must match either way (MindSpore casts a dtype when not
    strict; softgrad refuses, as a cast changes the values), and nothing is set unless everything fits."""
    if not isinstance(net, Cell):
        raise TypeError(f"net must be the Cell to load into, got {type(net).__name__} {net!r:.80}")
    return _load(net, parameter_dict, strict_load, source="parameter_dict")


def _load(net: Cell, state, strict_load, source: str) -> tuple[list[str], list[str]]:
    if not isinstance(strict_load, (bool, np.bool_)):
        raise TypeError(f"strict_load must be True or False, got {type(strict_load).__name__} {strict_load!r:.80}")
    missing, unexpected = load_state(net, state, strict=bool(strict_load), source=source, strict_option="strict_load")
    if missing or unexpected:
        warnings.warn(f"{source}: not loaded into {type(net).__name__}: its Parameters {missing} (not in {source}), "
                      f"and {unexpected} of {source} (no such Parameter)", stacklevel=3)
    return missing, unexpected


__all__ = ["save_checkpoint", "load_checkpoint", "load_param_into_net", "read_safetensors", "write_safetensors"]
