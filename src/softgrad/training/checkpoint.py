"""Model and checkpoint files: safetensors for arrays (no pickle anywhere), JSON for everything else, every
file written atomically.

* ``model.safetensors``: one tensor per Parameter, named by its path (``1.weight``), untrainable ones
  (BatchNorm's moving averages) included: ``softgrad.save_checkpoint(model, path)``'s file.
* ``checkpoint.safetensors``: the model tensors as ``model/<path>``, the optimizer's state arrays as
  ``optimizer/<index>/<name>``, and — in the safetensors metadata, as JSON under ``softgrad`` — the
  optimizer's scalars, the schedule, the generators' states and the training progress. One file, so a
  checkpoint is replaced atomically as a whole.

Reading is bounded and checked before anything is decoded or allocated (``softgrad.nn.serialization``'s
``read_safetensors``): the file's size against the cap (``softgrad._files.max_bytes()``), then the header's
dtypes, shapes and offsets, then the metadata field by field; ``restore_optimizer`` hands an optimizer only
the fields it saved, and only if they agree with the optimizer the run's config made. Errors are ValueErrors
that name the file and the tensor.
"""

from __future__ import annotations

from pathlib import Path

from softgrad.nn import Cell
from softgrad.nn.cell import load_state
from softgrad.nn.serialization import read_safetensors, write_safetensors
from softgrad.optim import Optimizer
from softgrad.training import jsonfiles
from softgrad.training.jsonfiles import check, field

METADATA_KEY = "softgrad"
OPTIMIZER_FIELDS = ("lr", "initial_lr", "step_count", "hyperparameters", "num_states")


# ----- checkpoints -----


def save_training_checkpoint(path: Path, model: Cell, optimizer_state: dict, progress: dict) -> None:
    """Write model, optimizer state (``Optimizer.state_dict()``) and ``progress`` (JSON-able) to one file."""
    tensors = {f"model/{name}": param.numpy() for name, param in model.parameters_dict().items()}
    for index, state in enumerate(optimizer_state["state"]):
        for name, array in state.items():
            tensors[f"optimizer/{index}/{name}"] = array
    scalars = {key: value for key, value in optimizer_state.items() if key != "state"}
    scalars["num_states"] = len(optimizer_state["state"])
    write_safetensors(path, tensors, {METADATA_KEY: jsonfiles.dumps({"optimizer": scalars, "progress": progress})})


def load_training_checkpoint(path: Path, model: Cell) -> tuple[dict, dict]:
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
    load_state(model, weights, strict=True, source=str(path), strict_option=None)
    return optimizer_state, progress


def _same(a, b) -> bool:
    """Equal and of the same types (True is not 1, 0 is not 0.0), element by element for tuples."""
    if isinstance(a, (list, tuple)) and isinstance(b, tuple):
        return len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


def restore_optimizer(optimizer: Optimizer, state: dict, source) -> None:
    """``optimizer.load_state_dict(state)`` (``state`` from ``load_training_checkpoint``), once the saved
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


__all__ = ["save_training_checkpoint", "load_training_checkpoint", "restore_optimizer", "METADATA_KEY"]
