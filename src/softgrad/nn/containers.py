"""Containers that register the cells they hold, so that their Parameters are the model's: ``CellList``
(PyTorch's ``ModuleList``) and ``CellDict`` (``ModuleDict``). Neither is callable: a model's ``construct``
iterates over or indexes them (``SequentialCell``, in ``nn.layers``, is the callable chain).

>>> import softgrad as sg
>>> class MLP(sg.nn.Cell):
...     def __init__(self, widths):
...         super().__init__()
...         self.layers = sg.nn.CellList([sg.nn.Dense(a, b) for a, b in zip(widths, widths[1:])])
...     def construct(self, x):
...         for layer in self.layers:
...             x = sg.ops.relu(layer(x))
...         return x
>>> [p.name for p in MLP([4, 3, 2]).trainable_params()]
['layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias']
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Iterator, Mapping

from softgrad.nn.cell import Cell


def _checked_cell(owner: str, where: str, cell) -> Cell:
    if not isinstance(cell, Cell):
        raise TypeError(f"{owner}: {where} must be a Cell, got {type(cell).__name__} {cell!r:.80}; wrap a plain "
                        "function in a Cell (define construct)")
    return cell


class _Container(Cell):
    """What CellList and CellDict share: the sub-cells registered in order, and no computation of their own."""

    def construct(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} is not callable: iterate over it or index it in your construct "
                        "(for cell in self.layers: x = cell(x)), or chain the cells in nn.SequentialCell")

    def __len__(self) -> int:
        return len(self._cells)


class CellList(_Container):
    """A list of Cells, registered as sub-cells '0', '1', ... (their Parameters named ``layers.0.weight``, ...):
    ``append``, ``extend``, ``insert``, indexing and slicing (a slice is a CellList), assignment, ``del``
    (the rest renumbered, as PyTorch's), ``len``, iteration and ``+=``.

    >>> import softgrad as sg
    >>> cells = CellList([sg.nn.ReLU(), sg.nn.Tanh()])
    >>> cells.insert(0, sg.nn.Flatten())
    >>> del cells[1]
    >>> cells
    CellList(
      (0): Flatten(start_dim=1, end_dim=-1)
      (1): Tanh()
    )
    """

    def __init__(self, args: Iterable[Cell] | None = None):
        super().__init__()
        if args is not None:
            self.extend(args)

    def _renumber(self, cells: list[Cell]) -> None:
        self._cells.clear()
        self._cells.update((str(i), cell) for i, cell in enumerate(cells))

    def _position(self, index) -> int:
        """``index`` (an int, negative from the end) as a position in range, else IndexError naming it."""
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"CellList indices must be integers or slices, got {type(index).__name__} {index!r:.80}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"CellList index {index} out of range for {len(self)} cells")
        return int(index) % len(self)

    def __getitem__(self, index):
        cells = list(self._cells.values())
        return CellList(cells[index]) if isinstance(index, slice) else cells[self._position(index)]

    def __setitem__(self, index: int, cell: Cell) -> None:
        cells = list(self._cells.values())
        cells[self._position(index)] = _checked_cell("CellList", f"the cell at {index}", cell)
        self._renumber(cells)

    def __delitem__(self, index) -> None:
        cells = list(self._cells.values())
        del cells[index if isinstance(index, slice) else self._position(index)]
        self._renumber(cells)

    def __iter__(self) -> Iterator[Cell]:
        return iter(list(self._cells.values()))

    def __iadd__(self, cells: Iterable[Cell]) -> "CellList":
        return self.extend(cells)

    def append(self, cell: Cell) -> "CellList":
        self._cells[str(len(self))] = _checked_cell("CellList.append", "cell", cell)
        return self

    def extend(self, cells: Iterable[Cell]) -> "CellList":
        if isinstance(cells, Cell) or not isinstance(cells, Iterable):
            raise TypeError(f"CellList.extend takes an iterable of Cells (a list), got {type(cells).__name__}; "
                            "use append for one cell")
        for i, cell in enumerate(list(cells)):
            self.append(_checked_cell("CellList", f"cells[{i}]", cell))
        return self

    def insert(self, index: int, cell: Cell) -> None:
        """Insert ``cell`` before position ``index`` (clamped to the list, as Python's ``list.insert``)."""
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"CellList.insert: index must be an integer, got {type(index).__name__} {index!r:.80}")
        cells = list(self._cells.values())
        cells.insert(int(index), _checked_cell("CellList.insert", "cell", cell))
        self._renumber(cells)


class CellDict(_Container):
    """An ordered dict of name → Cell, each registered under its name (``blocks.conv.weight``): indexing,
    assignment, ``del``, ``in``, ``len``, iteration over the names, ``keys``, ``values``, ``items``, ``update``,
    ``pop`` and ``clear``. Built from a dict or an iterable of (name, cell) pairs; names are non-empty strings
    without '.'.

    >>> import softgrad as sg
    >>> heads = CellDict({"digit": sg.nn.Dense(8, 10), "parity": sg.nn.Dense(8, 2)})
    >>> list(heads), [name for name, _ in heads.parameters_and_names()][:2]
    (['digit', 'parity'], ['digit.weight', 'digit.bias'])
    """

    def __init__(self, cells: Mapping[str, Cell] | Iterable[tuple[str, Cell]] | None = None):
        super().__init__()
        if cells is not None:
            self.update(cells)

    def __getitem__(self, key: str) -> Cell:
        if key not in self._cells:
            raise KeyError(f"CellDict has no cell {key!r}; it has {list(self._cells)}")
        return self._cells[key]

    def __setitem__(self, key: str, cell: Cell) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise (ValueError if isinstance(key, str) else TypeError)(
                f"CellDict: a name must be a non-empty str without '.' (it becomes part of the Parameters' paths), "
                f"got {type(key).__name__} {key!r:.80}")
        self._cells[key] = _checked_cell("CellDict", f"the cell for {key!r}", cell)

    def __delitem__(self, key: str) -> None:
        self.pop(key)

    def __contains__(self, key) -> bool:
        return key in self._cells

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._cells))

    def keys(self):
        return self._cells.keys()

    def values(self):
        return self._cells.values()

    def items(self):
        return self._cells.items()

    def pop(self, key: str) -> Cell:
        cell = self[key]
        del self._cells[key]
        return cell

    def clear(self) -> None:
        self._cells.clear()

    def update(self, cells: Mapping[str, Cell] | Iterable[tuple[str, Cell]]) -> None:
        """Add (or replace) the cells of a dict, a CellDict, or an iterable of (name, cell) pairs, in order."""
        if isinstance(cells, (Mapping, CellDict)):
            pairs = list(cells.items())
        elif isinstance(cells, Iterable) and not isinstance(cells, (str, Cell)):
            pairs = list(cells)
        else:
            raise TypeError(f"CellDict.update takes a dict of name -> Cell or (name, cell) pairs, got "
                            f"{type(cells).__name__} {cells!r:.80}")
        for i, pair in enumerate(pairs):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(f"CellDict.update: element {i} must be a (name, cell) pair, got {pair!r:.80}")
            self[pair[0]] = pair[1]


ModuleList = CellList
ModuleDict = CellDict

__all__ = ["CellList", "ModuleList", "CellDict", "ModuleDict"]
