"""Model and checkpoint files: safetensors for arrays (no pickle anywhere), JSON for everything else, every
file written atomically.

* ``model.safetensors``: one tensor per Parameter, named by its path (``1.weight``), untrainable ones
  (BatchNorm's moving averages) included.
* ``checkpoint.safetensors``: the model tensors as ``model/<path>``, the optimizer's state arrays as
  ``optimizer/<index>/<name>``, and — in the safetensors metadata, as JSON under ``softgrad`` — the
  optimizer's scalars, the schedule, the generators' states and the training progress. One file, so a
  checkpoint is replaced atomically as a whole.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from softgrad._files import atomic_write_bytes
from softgrad.nn import Cell

METADATA_KEY = "softgrad"


def _safetensors():
    try:
        import safetensors
        import safetensors.numpy
    except ImportError as error:
        raise ImportError("saving models needs safetensors: pip install 'softgrad[cli]'") from error
    return safetensors


def model_tensors(model: Cell) -> dict[str, np.ndarray]:
    """Every Parameter of ``model`` (trainable or not) by path, as contiguous arrays."""
    return {path: np.ascontiguousarray(p.numpy()) for path, p in model.parameters_dict().items()}


def load_model_tensors(model: Cell, tensors: dict[str, np.ndarray]) -> None:
    """Set every Parameter of ``model`` from ``tensors`` (names and shapes must match exactly)."""
    params = model.parameters_dict()
    missing, unexpected = set(params) - set(tensors), set(tensors) - set(params)
    if missing or unexpected:
        raise ValueError(f"the saved tensors do not fit this model: missing {sorted(missing)}, "
                         f"unexpected {sorted(unexpected)}; was the file written for another --model or --hidden?")
    for path, param in params.items():
        if tensors[path].shape != param.shape:
            raise ValueError(f"saved tensor '{path}' has shape {tensors[path].shape}, the model expects {param.shape}")
        param.set_data(np.array(tensors[path], dtype=param.dtype))


def save_model(path: Path, model: Cell) -> None:
    atomic_write_bytes(path, _safetensors().numpy.save(model_tensors(model)))


def load_model(path: Path, model: Cell) -> None:
    load_model_tensors(model, _safetensors().numpy.load(Path(path).read_bytes()))


def save_checkpoint(path: Path, model: Cell, optimizer_state: dict, progress: dict) -> None:
    """Write model, optimizer state (``Optimizer.state_dict()``) and ``progress`` (JSON-able) to one file."""
    tensors = {f"model/{name}": array for name, array in model_tensors(model).items()}
    for index, state in enumerate(optimizer_state["state"]):
        for name, array in state.items():
            tensors[f"optimizer/{index}/{name}"] = np.ascontiguousarray(array)
    scalars = {key: value for key, value in optimizer_state.items() if key != "state"}
    scalars["num_states"] = len(optimizer_state["state"])
    metadata = {METADATA_KEY: json.dumps({"optimizer": scalars, "progress": progress})}
    atomic_write_bytes(path, _safetensors().numpy.save(tensors, metadata=metadata))


def load_checkpoint(path: Path, model: Cell) -> tuple[dict, dict]:
    """Restore ``model`` from a checkpoint; return (optimizer state for ``Optimizer.load_state_dict``, progress)."""
    safetensors = _safetensors()
    tensors = safetensors.numpy.load_file(path)
    with safetensors.safe_open(path, framework="np") as f:
        metadata = f.metadata() or {}
    if METADATA_KEY not in metadata:
        raise ValueError(f"{path} is not a softgrad checkpoint (no '{METADATA_KEY}' metadata)")
    saved = json.loads(metadata[METADATA_KEY])
    load_model_tensors(model, {name[len("model/"):]: array for name, array in tensors.items()
                               if name.startswith("model/")})
    optimizer_state = dict(saved["optimizer"])
    states: list[dict] = [{} for _ in range(optimizer_state.pop("num_states"))]
    for name, array in tensors.items():
        if name.startswith("optimizer/"):
            _, index, key = name.split("/", 2)
            states[int(index)][key] = array
    optimizer_state["state"] = states
    return optimizer_state, saved["progress"]
