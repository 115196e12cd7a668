"""MindSpore's Cell forms of jvp and vjp, nn.Jvp and nn.Vjp, with the examples of MindSpore's documentation."""

import numpy as np

import softgrad as sg
from softgrad import nn


class Cube(nn.Cell):
    def construct(self, x, y):
        return x ** 3 + y


X = sg.Tensor(np.array([[1, 2], [3, 4]], np.float32))
V = sg.Tensor(np.ones((2, 2), np.float32))


def test_jvp_cell():
    output, tangent = nn.Jvp(Cube())(X, X, (V, V))
    np.testing.assert_array_equal(output.numpy(), [[2, 10], [30, 68]])
    np.testing.assert_array_equal(tangent.numpy(), [[4, 13], [28, 49]])


def test_vjp_cell():
    output, (gx, gy) = nn.Vjp(Cube())(X, X, V)
    np.testing.assert_array_equal(output.numpy(), [[2, 10], [30, 68]])
    np.testing.assert_array_equal(gx.numpy(), [[3, 12], [27, 48]])
    np.testing.assert_array_equal(gy.numpy(), [[1, 1], [1, 1]])
