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
from typing import Iterator

from softgrad.autodiff.custom import call_with_bprop
from softgrad.tensor import Parameter, Tensor


class Cell:
    """Base class of layers and models: define ``construct`` (or PyTorch's ``forward``); call the cell."""

    def __init__(self, auto_prefix: bool = True):
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

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._defines_bprop = any("bprop" in vars(base) for base in cls.__mro__ if base is not Cell)

    def __call__(self, *args, **kwargs):
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
        built with ``auto_prefix=False``)."""
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

Module = Cell
