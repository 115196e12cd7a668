"""``Cell``: a function with Parameters. Parameters and sub-cells assigned as attributes register themselves,
so ``trainable_params()`` finds them all, named by their path (``fc1.weight``).

>>> import softgrad as sg
>>> class Affine(sg.nn.Cell):
...     def __init__(self):
...         super().__init__()
...         self.w = sg.Parameter(sg.ops.ones((2, 1)), name='w')
...     def construct(self, x):
...         return x @ self.w
>>> [p.name for p in Affine().trainable_params()]
['w']
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Iterator, NamedTuple

from softgrad.autodiff.custom import call_with_bprop
from softgrad.tensor import Parameter, Tensor, as_array


class IncompatibleKeys(NamedTuple):
    """The names ``load_state_dict(..., strict=False)`` did not load (PyTorch's return)."""

    missing_keys: list[str]  # the Cell's Parameters the state did not have
    unexpected_keys: list[str]  # the state's entries the Cell has no Parameter for


class Cell:
    """Base class of layers and models: define ``construct`` (or PyTorch's ``forward``); call the cell."""

    training: bool  # (set_train)

    def __init__(self, auto_prefix: bool = True) -> None:
        """``auto_prefix`` (MindSpore's): whether the names of the sub-cells' Parameters start with their
        attribute paths in this cell (``net.fc.weight``); a wrapper that must not rename its network's
        Parameters (an optimizer, a training step) passes False (``fc.weight``)."""
        object.__setattr__(self, "_params", OrderedDict())
        object.__setattr__(self, "_cells", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_auto_prefix", bool(auto_prefix))

    def __setattr__(self, name: str, value) -> None:
        if "_params" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before "
                                 f"assigning attribute '{name}'")
        self._params.pop(name, None)
        self._cells.pop(name, None)
        if isinstance(value, Parameter):
            if value.name is None:
                value.name = name
            self._params[name] = value
        elif isinstance(value, Cell):
            self._cells[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._params.pop(name, None)
        self._cells.pop(name, None)
        object.__delattr__(self, name)

    _defines_bprop = False  # set for subclasses that define MindSpore's custom gradient ``bprop(*inputs, out, dout)``

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._defines_bprop = any("bprop" in vars(base) for base in cls.__mro__ if base is not Cell)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._defines_bprop and any(isinstance(a, Tensor) and a.is_traced for a in args):
            if kwargs:
                raise TypeError(f"{type(self).__name__} defines bprop: pass its inputs by position, got keywords "
                                f"{sorted(kwargs)}")
            return call_with_bprop(self, args)  # differentiated through bprop, as MindSpore
        return self.construct(*args, **kwargs)

    def construct(self, *args, **kwargs):
        """The computation. Subclasses override this (or ``forward``, as in PyTorch)."""
        if type(self).forward is not Cell.forward:
            return self.forward(*args, **kwargs)
        raise NotImplementedError(f"{type(self).__name__} must define construct(self, ...) (or forward)")

    def forward(self, *args, **kwargs):
        return self.construct(*args, **kwargs)

    # ----- parameters -----

    def insert_param_to_cell(self, name: str, param: Parameter) -> None:
        setattr(self, name, param)

    def cells_and_names(self, prefix: str = "") -> Iterator[tuple[str, "Cell"]]:
        """This cell and every sub-cell, depth first, with dotted paths ('' for this cell)."""
        yield prefix, self
        for name, cell in self._cells.items():
            yield from cell.cells_and_names(f"{prefix}.{name}" if prefix else name)

    def parameters_and_names(self) -> Iterator[tuple[str, Parameter]]:
        """Every Parameter once, in registration order, with its dotted path (without the prefixes of cells
        built with ``auto_prefix=False``). TypeError if a Cell or Parameter sits in a plain list, tuple or dict
        attribute and nowhere in the registered tree (see ``_check_registered``)."""
        self._check_registered()
        seen: set[int] = set()
        for path, cell in self._parameter_paths():
            for name, param in cell._params.items():
                if id(param) not in seen:
                    seen.add(id(param))
                    yield (f"{path}.{name}" if path else name), param

    def _parameter_paths(self, prefix: str = "") -> Iterator[tuple[str, "Cell"]]:
        """As ``cells_and_names``, with the path restarted below a cell whose ``auto_prefix`` is False."""
        yield prefix, self
        for name, cell in self._cells.items():
            path = (f"{prefix}.{name}" if prefix else name) if self._auto_prefix else ""
            yield from cell._parameter_paths(path)

    def _check_registered(self) -> None:
        """Refuse a Cell or Parameter kept in a plain list, tuple or dict attribute and registered nowhere in
        the tree: ``trainable_params()``, ``state_dict()`` and ``set_train()`` would silently miss it (a
        PyTorch model ported with a list of layers trains nothing of them). Raising, rather than registering
        the list at assignment, also catches layers appended to the list later, and leaves the list a list."""
        cells = dict(self.cells_and_names())
        registered = {id(cell) for cell in cells.values()} | {id(p) for c in cells.values() for p in c._params.values()}
        for path, cell in cells.items():
            for name, value in vars(cell).items():
                if name in ("_params", "_cells") or not isinstance(value, (list, tuple, dict)):
                    continue
                items = list(value.values() if isinstance(value, dict) else value)
                lost = [item for item in items if isinstance(item, (Cell, Parameter)) and id(item) not in registered]
                if lost:
                    where = f"{path}.{name}" if path else name
                    raise TypeError(
                        f"{type(cell).__name__}: attribute '{where}' is a plain {type(value).__name__} holding "
                        f"{type(lost[0]).__name__} {items.index(lost[0])} ({len(lost)} unregistered), so "
                        "trainable_params(), state_dict() and set_train() would miss it; keep Cells in "
                        "nn.CellList([...]) (PyTorch: nn.ModuleList) or nn.CellDict({...}) (nn.ModuleDict), and "
                        "each Parameter as an attribute of its own")

    def get_parameters(self) -> Iterator[Parameter]:
        for _, param in self.parameters_and_names():
            yield param

    def parameters_dict(self) -> "OrderedDict[str, Parameter]":
        """path → Parameter, for every Parameter (each named by its path)."""
        out = OrderedDict()
        for path, param in self.parameters_and_names():
            if "." in path and (param.name is None or path.endswith("." + param.name)):
                param.name = path
            out[path] = param
        return out

    def trainable_params(self) -> list[Parameter]:
        """The Parameters with ``requires_grad=True``, in a deterministic order (registration, depth first)."""
        return [p for p in self.parameters_dict().values() if p.requires_grad]

    def untrainable_params(self) -> list[Parameter]:
        return [p for p in self.parameters_dict().values() if not p.requires_grad]

    # PyTorch spellings
    def parameters(self) -> list[Parameter]:
        return self.trainable_params()

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        return iter(self.parameters_dict().items())

    # ----- state -----

    def state_dict(self) -> "OrderedDict[str, Tensor]":
        """Every Parameter by path, trainable or not (BatchNorm's moving statistics too), as a copy: unlike
        PyTorch's, which shares the parameters' memory, it keeps the values it was taken with
        (``best = net.state_dict()`` stays the best while training goes on).

        >>> import softgrad as sg
        >>> list(sg.nn.BatchNorm1d(2).state_dict())
        ['gamma', 'beta', 'moving_mean', 'moving_variance']
        """
        return OrderedDict((path, Tensor(param.numpy().copy(order="K")))
                           for path, param in self.parameters_dict().items())

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Set the Parameters from ``state_dict`` (path → Tensor or ndarray, as ``state_dict()`` returns), all
        or none: every name, shape and dtype is checked before the first value is set, and a difference is an
        error naming it (a dtype is never cast: that would change the values). ``strict=False`` loads the
        names both have and returns the others (PyTorch's ``missing_keys``, ``unexpected_keys``).

        >>> import softgrad as sg
        >>> net = sg.nn.Dense(2, 1)
        >>> net.load_state_dict({'weight': sg.ops.ones((1, 2))}, strict=False)
        IncompatibleKeys(missing_keys=['bias'], unexpected_keys=[])
        """
        return load_state(self, state_dict, strict=strict, source="state_dict", strict_option="strict")

    # ----- modes -----

    def set_grad(self, requires_grad: bool = True) -> "Cell":
        """MindSpore's switch for building the backward graph in PyNative mode: softgrad traces whatever a
        transform differentiates, so this only returns the cell."""
        return self

    def set_train(self, mode: bool = True) -> "Cell":
        """Training (dropout active, batch statistics) or inference mode, for this cell and all sub-cells."""
        for _, cell in self.cells_and_names():
            object.__setattr__(cell, "training", bool(mode))
        return self

    def train(self, mode: bool = True) -> "Cell":
        return self.set_train(mode)

    def eval(self) -> "Cell":
        return self.set_train(False)

    # ----- printing -----

    def extra_repr(self) -> dict | str:
        """What ``repr`` shows inside the parentheses: the layer's hyperparameters as a dict of name → value
        (or, as PyTorch's ``extra_repr``, a string). A Cell without any shows its own Parameters instead."""
        return {}

    def __repr__(self) -> str:
        """The cell's hyperparameters and, indented, its sub-cells (PyTorch's layout).

        >>> import softgrad as sg
        >>> print(sg.nn.SequentialCell(sg.nn.Dense(4, 2, activation='relu'), sg.nn.Dropout(0.1)))
        SequentialCell(
          (0): Dense(in_channels=4, out_channels=2, has_bias=True, activation='relu')
          (1): Dropout(p=0.1)
        )
        """
        extra = self.extra_repr()
        head = extra if isinstance(extra, str) else ", ".join(f"{key}={value!r}" for key, value in extra.items())
        lines = [f"({name}): " + repr(cell).replace("\n", "\n  ") for name, cell in self._cells.items()]
        if not head:
            lines += [f"{name}: shape={param.shape}, dtype={param.dtype}" for name, param in self._params.items()]
        elif lines:
            lines.insert(0, head)
        if not lines:
            return f"{type(self).__name__}({head})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def load_state(cell: Cell, state, *, strict: bool, source: str, strict_option: str | None) -> IncompatibleKeys:
    """``cell.load_state_dict(state, strict)``, with errors naming ``source`` (a file, or the argument) and, if
    given, the option ``strict_option`` that loads only the names both have (``strict``, ``strict_load``)."""
    if not isinstance(state, Mapping):
        raise TypeError(f"{source} must be a dict of parameter path -> Tensor or array (as state_dict() returns), "
                        f"got {type(state).__name__}")
    params = cell.parameters_dict()
    missing = [path for path in params if path not in state]
    unexpected = [name for name in state if name not in params]
    if strict and (missing or unexpected):
        relax = f", or pass {strict_option}=False to load the names both have" if strict_option else ""
        raise ValueError(f"{source} does not fit this {type(cell).__name__}: missing {missing} (Parameters of the "
                         f"cell that {source} lacks), unexpected {unexpected}; load it into the model it was saved "
                         f"from{relax}")
    arrays = {path: _checked_array(source, path, state[path], param) for path, param in params.items()
              if path in state}
    for path, array in arrays.items():
        params[path].set_data(array)
    return IncompatibleKeys(missing, unexpected)


def _checked_array(source: str, path: str, value, param: Parameter):
    """``value`` as an ndarray, refused unless it has ``param``'s shape and dtype."""
    array = as_array(value, name=f"{source}: tensor '{path}'")
    if array.shape != param.shape:
        raise ValueError(f"{source}: tensor '{path}' has shape {array.shape}, the model expects {param.shape}")
    if array.dtype != param.dtype:
        raise ValueError(f"{source}: tensor '{path}' is stored as {array.dtype}, the model's parameter is "
                         f"{param.dtype}; a cast would change its values: convert it yourself if you mean it "
                         f"(array.astype('{param.dtype}')), or save the weights as {param.dtype}")
    return array


Module = Cell


__all__ = ["Cell", "Module", "IncompatibleKeys"]
