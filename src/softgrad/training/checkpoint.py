"""Model and checkpoint files: safetensors for arrays (no pickle anywhere), JSON for everything else, every
file written atomically.

* ``model.safetensors``: one tensor per Parameter, named by its path (``1.weight``), untrainable ones
  (BatchNorm's moving averages) included.
* ``checkpoint.safetensors``: the model tensors as ``model/<path>``, the optimizer's state arrays as
  ``optimizer/<index>/<name>``, and — in the safetensors metadata, as JSON under ``softgrad`` — the
  optimizer's scalars, the schedule, the generators' states and the training progress. One file, so a
  checkpoint is replaced atomically as a whole.

Reading is bounded and checked before anything is decoded or allocated (``read_safetensors``): the file's
size against the cap (``softgrad._files.max_bytes()``), then the header's dtypes, shapes and offsets, then the
metadata field by field; ``restore_optimizer`` hands an optimizer only the fields it saved, and only if they
agree with the optimizer the run's config made. Errors are ValueErrors that name the file and the tensor.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

from softgrad._files import atomic_write_bytes, read_bounded
from softgrad.nn import Cell
from softgrad.optim import Optimizer
from softgrad.training import jsonfiles
from softgrad.training.jsonfiles import check, field

METADATA_KEY = "softgrad"
# the safetensors dtypes NumPy holds (BF16 and the FP8 types it has none for)
NUMPY_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "I64": "int64", "I32": "int32", "I16": "int16",
                "I8": "int8", "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool"}
OPTIMIZER_FIELDS = ("lr", "initial_lr", "step_count", "hyperparameters", "num_states")


def _safetensors():
    try:
        import safetensors
        import safetensors.numpy
    except ImportError as error:
        raise ImportError("saving models needs safetensors: pip install 'softgrad[cli]'") from error
    return safetensors


# ----- reading safetensors with a bound -----


def _check_header(path: Path, data: bytes) -> dict[str, str]:
    """The metadata of the safetensors bytes ``data``, after checking every tensor entry of the header."""
    damaged = "the file is damaged or truncated: write it again (or restore it)"
    if len(data) < 8:
        raise ValueError(f"{path}: {len(data)} bytes, too short for a safetensors file; {damaged}")
    (header_bytes,) = struct.unpack("<Q", data[:8])
    if header_bytes > len(data) - 8:
        raise ValueError(f"{path}: its header claims {header_bytes:,} bytes, the file holds {len(data) - 8:,} after "
                         f"the length; {damaged}")
    header = jsonfiles.loads(data[8:8 + header_bytes], f"{path} (safetensors header)")
    check(header, "dict", f"{path}: the safetensors header")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(f"{path}: the safetensors metadata must map names to strings; {damaged}")
    data_bytes = len(data) - 8 - header_bytes
    for name, entry in header.items():
        where = f"{path}: tensor '{name}'"
        check(entry, "dict", where)
        dtype = field(entry, "dtype", "str", where)
        if dtype not in NUMPY_DTYPES:
            raise ValueError(f"{where} is stored as {dtype}; softgrad reads {', '.join(NUMPY_DTYPES)} and its models "
                             "hold F32: convert the tensor to float32 before saving")
        shape = field(entry, "shape", "list", where)
        offsets = field(entry, "data_offsets", "list", where)
        if not all(jsonfiles.matches(n, "int") and n >= 0 for n in shape):
            raise ValueError(f"{where}: shape must be a list of sizes >= 0, got {jsonfiles.shown(shape)}")
        if (len(offsets) != 2 or not all(jsonfiles.matches(n, "int") for n in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_bytes):
            raise ValueError(f"{where}: data_offsets must be [begin, end] within the {data_bytes:,} bytes of data, "
                             f"got {jsonfiles.shown(offsets)}; {damaged}")
        size = math.prod(shape) * np.dtype(NUMPY_DTYPES[dtype]).itemsize
        if offsets[1] - offsets[0] != size:
            raise ValueError(f"{where}: shape {shape} of {dtype} takes {size:,} bytes, its offsets span "
                             f"{offsets[1] - offsets[0]:,}; {damaged}")
    return metadata


def read_safetensors(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors and metadata of the safetensors file at ``path``: read with a bound, header checked first."""
    safetensors = _safetensors()
    data = read_bounded(path)
    metadata = _check_header(Path(path), data)
    try:
        tensors = safetensors.numpy.load(data)
    except safetensors.SafetensorError as error:
        raise ValueError(f"{path}: not a valid safetensors file ({error}); write it again (or restore it)") from None
    return tensors, metadata


# ----- model files -----


def model_tensors(model: Cell) -> dict[str, np.ndarray]:
    """Every Parameter of ``model`` (trainable or not) by path, as contiguous arrays."""
    return {path: np.ascontiguousarray(p.numpy()) for path, p in model.parameters_dict().items()}


def load_model_tensors(model: Cell, tensors: dict[str, np.ndarray], source="the saved tensors") -> None:
    """Set every Parameter of ``model`` from ``tensors`` (names, shapes and dtypes must match exactly)."""
    params = model.parameters_dict()
    missing, unexpected = set(params) - set(tensors), set(tensors) - set(params)
    if missing or unexpected:
        raise ValueError(f"{source}: the tensors do not fit this model: missing {sorted(missing)}, "
                         f"unexpected {sorted(unexpected)}; was the file written for another --model or --hidden?")
    for path, param in params.items():
        if tensors[path].shape != param.shape:
            raise ValueError(f"{source}: tensor '{path}' has shape {tensors[path].shape}, the model expects "
                             f"{param.shape}")
        if tensors[path].dtype != param.dtype:
            raise ValueError(f"{source}: tensor '{path}' is stored as {tensors[path].dtype}, the model's parameter is "
                             f"{param.dtype}; a cast would change its values: save the weights as {param.dtype}")
    for path, param in params.items():
        param.set_data(np.array(tensors[path]))


def save_model(path: Path, model: Cell) -> None:
    atomic_write_bytes(path, _safetensors().numpy.save(model_tensors(model)))


def load_model(path: Path, model: Cell) -> None:
    load_model_tensors(model, read_safetensors(path)[0], path)


# ----- checkpoints -----


def save_checkpoint(path: Path, model: Cell, optimizer_state: dict, progress: dict) -> None:
    """Write model, optimizer state (``Optimizer.state_dict()``) and ``progress`` (JSON-able) to one file."""
    tensors = {f"model/{name}": array for name, array in model_tensors(model).items()}
    for index, state in enumerate(optimizer_state["state"]):
        for name, array in state.items():
            tensors[f"optimizer/{index}/{name}"] = np.ascontiguousarray(array)
    scalars = {key: value for key, value in optimizer_state.items() if key != "state"}
    scalars["num_states"] = len(optimizer_state["state"])
    metadata = {METADATA_KEY: jsonfiles.dumps({"optimizer": scalars, "progress": progress})}
    atomic_write_bytes(path, _safetensors().numpy.save(tensors, metadata=metadata))


def load_checkpoint(path: Path, model: Cell) -> tuple[dict, dict]:
    """Restore ``model`` from a checkpoint; return (optimizer state for ``restore_optimizer``, progress).

    The optimizer state holds the known fields only, each checked (types, finite, one state per trainable
    Parameter of ``model``, each array of its Parameter's shape and dtype); progress is checked to be an object."""
    tensors, metadata = read_safetensors(path)
    if METADATA_KEY not in metadata:
        raise ValueError(f"{path} is not a softgrad checkpoint (no '{METADATA_KEY}' metadata)")
    where = f"{path}: metadata"
    saved = check(jsonfiles.loads(metadata[METADATA_KEY], f"{path} (metadata '{METADATA_KEY}')"), "dict", where)
    scalars = field(saved, "optimizer", "dict", where)
    progress = field(saved, "progress", "dict", where)
    where += " 'optimizer'"
    if unknown := set(scalars) - set(OPTIMIZER_FIELDS):
        raise ValueError(f"{where} has unknown fields {sorted(unknown)}; known are {list(OPTIMIZER_FIELDS)}")
    params = model.trainable_params()
    num_states = field(scalars, "num_states", "int", where)
    if num_states != len(params):
        raise ValueError(f"{where}: 'num_states' is {num_states}, the model has {len(params)} trainable parameters")
    optimizer_state = {"lr": field(scalars, "lr", "number", where, minimum=0),
                       "initial_lr": field(scalars, "initial_lr", "number", where, minimum=0),
                       "step_count": field(scalars, "step_count", "int", where, minimum=0),
                       "hyperparameters": field(scalars, "hyperparameters", "dict", where),
                       "state": [{} for _ in params]}
    weights = {}
    for name, array in tensors.items():
        kind, _, rest = name.partition("/")
        index, _, key = rest.partition("/")
        if kind == "model":
            weights[rest] = array
        elif kind == "optimizer" and index.isascii() and index.isdigit() and int(index) < len(params) and key:
            param = params[int(index)]
            if array.shape != param.shape or array.dtype != param.dtype:
                raise ValueError(f"{path}: optimizer state '{name}' has shape {array.shape} and dtype {array.dtype}, "
                                 f"its parameter '{param.name}' {param.shape} and {param.dtype}; was the checkpoint "
                                 "written for another --model or --hidden?")
            optimizer_state["state"][int(index)][key] = array
        else:
            raise ValueError(f"{path}: unexpected tensor '{name}'; a checkpoint holds model/<parameter> and "
                             f"optimizer/<0..{len(params) - 1}>/<state>")
    load_model_tensors(model, weights, path)
    return optimizer_state, progress


def _same(a, b) -> bool:
    """Equal and of the same types (True is not 1, 0 is not 0.0), element by element for tuples."""
    if isinstance(a, (list, tuple)) and isinstance(b, tuple):
        return len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


def restore_optimizer(optimizer: Optimizer, state: dict, source) -> None:
    """``optimizer.load_state_dict(state)`` (``state`` from ``load_checkpoint``), once the saved
    hyperparameters are found to be exactly the optimizer's own: a resumed run rebuilds its optimizer from
    config.json, so any difference means a damaged or foreign checkpoint, and nothing the file names is set
    on the optimizer but its known fields."""
    saved, names = state["hyperparameters"], type(optimizer).hyperparameters
    if set(saved) != set(names):
        raise ValueError(f"{source}: the checkpoint's optimizer has hyperparameters {sorted(saved)}, "
                         f"{type(optimizer).__name__} has {sorted(names)}: it was written by another optimizer")
    for name, value in [*saved.items(), ("initial_lr", state["initial_lr"])]:
        expected = getattr(optimizer, name)
        if not _same(value, expected):
            raise ValueError(f"{source}: the checkpoint's optimizer has {name} = {jsonfiles.shown(value)}, the "
                             f"run's config.json gives {expected!r}; the checkpoint is damaged or from another run")
    optimizer.load_state_dict({key: state[key] for key in ("lr", "initial_lr", "step_count", "hyperparameters",
                                                           "state")})
