"""softgrad.nn: cells (layers with Parameters), loss cells, and containers."""

from softgrad.nn.cell import Cell, Module
from softgrad.tensor import Parameter

__all__ = ["Cell", "Module", "Parameter"]
