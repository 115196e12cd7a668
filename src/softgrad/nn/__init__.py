"""softgrad.nn: cells (layers with Parameters), loss cells, and containers."""

from softgrad.nn.cell import Cell, Module
from softgrad.nn import init
from softgrad.nn.conv import AdaptiveAvgPool2d, AvgPool2d, Conv2d, MaxPool2d
from softgrad.nn.layers import (
    BatchNorm1d, BatchNorm2d, Dense, Dropout, Dropout2d, Embedding, Flatten, LayerNorm, Linear, Sequential,
    SequentialCell,
)
from softgrad.nn.wrap import ForwardValueAndGrad, Jvp, TrainOneStepCell, Vjp, WithLossCell
from softgrad.nn.containers import CellDict, CellList, ModuleDict, ModuleList
from softgrad.nn.summary import summary
from softgrad.nn.distributed import DistributedGradReducer
from softgrad.nn.activations import (
    ELU, GELU, LeakyReLU, LogSigmoid, LogSoftmax, ReLU, Sigmoid, Softmax, Softplus, Tanh,
)
from softgrad.nn import functional
from softgrad.nn.losses import (
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss,
)
from softgrad.tensor import Parameter

__all__ = [
    "Cell", "Module", "Parameter", "init",
    # layers and containers
    "Dense", "Linear", "ReLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax", "Flatten", "Dropout", "BatchNorm1d",
    "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm2d", "LayerNorm", "Embedding", "Dropout2d",
    "GELU", "LeakyReLU", "ELU", "Softplus", "LogSigmoid", "functional",
    "SequentialCell", "Sequential", "WithLossCell", "TrainOneStepCell",
    "ForwardValueAndGrad", "Jvp", "Vjp", "CellList", "ModuleList", "CellDict", "ModuleDict", "summary",
    "DistributedGradReducer",
    # losses
    "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss", "SmoothL1Loss",
    "HuberLoss", "KLDivLoss",
]
