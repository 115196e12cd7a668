"""The three classifiers of ``softgrad train``, all taking images (N, C, H, W) and returning logits (N, classes):

* ``logreg``: Flatten → Dense — multinomial logistic regression, the maximum-likelihood linear model
  (zero initial weights: the loss is convex, so the start does not matter);
* ``mlp``: Flatten → [Dense → ReLU (→ Dropout)] per hidden width → Dense;
* ``cnn``: [Conv2d 3×3 'same' → ReLU → MaxPool2d 2] per channel width → Flatten → the MLP head.
"""

from __future__ import annotations

import math

from softgrad import nn
from softgrad._files import check_size
from softgrad.random import Generator
from softgrad.training.config import TrainConfig

FLOAT32_BYTES = 4


def _head(in_features: int, config: TrainConfig, init: Generator, dropout: Generator) -> list:
    layers = []
    for width in config.hidden:
        layers += [nn.Dense(in_features, width, generator=init), nn.ReLU()]
        if config.dropout:
            layers.append(nn.Dropout(config.dropout, generator=dropout))
        in_features = width
    layers.append(nn.Dense(in_features, config.num_classes, generator=init))
    return layers


def parameter_count(config: TrainConfig) -> int:
    """The number of trainable parameters of ``build_model(config, ...)``, computed without building it."""
    channels, height, width = config.input_shape
    count = 0
    if config.model == "cnn":
        for out_channels in config.channels:
            count += out_channels * channels * 3 * 3 + out_channels
            channels, height, width = out_channels, math.ceil(height / 2), math.ceil(width / 2)
    in_features = channels * height * width
    widths = () if config.model == "logreg" else config.hidden
    for width in (*widths, config.num_classes):
        count += in_features * width + width
        in_features = width
    return count


def check_model_size(config: TrainConfig) -> int:
    """The bytes of ``config``'s weights; ValueError before anything is allocated if they exceed the cap
    (``softgrad._files.max_bytes()``)."""
    count = parameter_count(config)
    widths = f"--hidden {','.join(map(str, config.hidden))}" + (
        f" --channels {','.join(map(str, config.channels))}" if config.model == "cnn" else "")
    check_size(f"the {count:,} float32 weights of the {config.model} ({widths}, inputs {config.input_shape})",
               FLOAT32_BYTES * count)
    return FLOAT32_BYTES * count


def build_model(config: TrainConfig, init: Generator, dropout: Generator) -> nn.SequentialCell:
    """The model ``config`` describes (``input_shape`` and ``num_classes`` must be set), with initial weights
    from ``init`` and dropout masks from ``dropout``; its size is checked first (``check_model_size``)."""
    check_model_size(config)
    channels, height, width = config.input_shape
    if config.model == "logreg":
        return nn.SequentialCell(nn.Flatten(), nn.Dense(channels * height * width, config.num_classes,
                                                        weight_init="zeros", bias_init="zeros"))
    if config.model == "mlp":
        return nn.SequentialCell([nn.Flatten()] + _head(channels * height * width, config, init, dropout))
    layers = []
    for out_channels in config.channels:
        layers += [nn.Conv2d(channels, out_channels, 3, pad_mode="same", has_bias=True, generator=init), nn.ReLU(),
                   nn.MaxPool2d(2, pad_mode="same")]
        channels, height, width = out_channels, math.ceil(height / 2), math.ceil(width / 2)
    return nn.SequentialCell(layers + [nn.Flatten()] + _head(channels * height * width, config, init, dropout))


def count_parameters(model: nn.Cell) -> int:
    return sum(p.size for p in model.trainable_params())


__all__ = ["parameter_count", "check_model_size", "build_model", "count_parameters"]
