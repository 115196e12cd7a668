"""Elementwise primitives: unary, binary with broadcasting, comparisons. Each forward sits beside its rule.

Broadcasting is undone in one place, the backward engine (``softgrad.autodiff.unbroadcast``): binary rules
return the cotangent at the broadcast shape.
"""

from __future__ import annotations

import numpy as np

from softgrad.ops._primitive import public, tensor_out
from softgrad.tensor import Primitive


def _where_impl(condition, x, y):
    return np.where(condition, x, y)


def _stable_sigmoid(x):
    """σ(x) = 1/(1+e⁻ˣ) without overflow: e = e^{-|x|}; σ = 1/(1+e) for x ≥ 0, e/(1+e) for x < 0."""
    e = np.exp(-np.abs(x))
    r = 1.0 / (1.0 + e)
    return np.where(x >= 0, r, e * r)


# ----- unary -----

neg_p = Primitive("neg", np.negative, (lambda g, ans, x: -g,))
neg = public(neg_p, "−x.  ∂/∂x = −1")

exp_p = Primitive("exp", np.exp, (lambda g, ans, x: g * ans,))
exp = public(exp_p, "eˣ.  ∂/∂x = eˣ\n\n>>> exp(0.0)\nTensor(shape=[], dtype=Float32, value= 1.0)")

log_p = Primitive("log", np.log, (lambda g, ans, x: g / x,))
log = public(log_p, "ln x.  ∂/∂x = 1/x")

log1p_p = Primitive("log1p", np.log1p, (lambda g, ans, x: g / (1 + x),))
log1p = public(log1p_p, "ln(1 + x), exact for tiny x.  ∂/∂x = 1/(1 + x)")

expm1_p = Primitive("expm1", np.expm1, (lambda g, ans, x: g * (ans + 1),))
expm1 = public(expm1_p, "eˣ − 1, exact for tiny x.  ∂/∂x = eˣ")

sqrt_p = Primitive("sqrt", np.sqrt, (lambda g, ans, x: g / (2 * ans),))
sqrt = public(sqrt_p, "√x.  ∂/∂x = 1/(2√x)")

square_p = Primitive("square", np.square, (lambda g, ans, x: g * (2 * x),))
square = public(square_p, "x².  ∂/∂x = 2x")

sign_p = Primitive("sign", np.sign)  # piecewise constant: no rule, the output is never traced
sign = public(sign_p, "sign(x) ∈ {−1, 0, 1}.  Not differentiable (zero gradient).")

abs_p = Primitive("abs", np.abs, (lambda g, ans, x: g * sign_p.bind(x),))
abs = public(abs_p, "|x|.  ∂/∂x = sign(x) (0 at 0, as in PyTorch)")

sin_p = Primitive("sin", np.sin, (lambda g, ans, x: g * cos_p.bind(x),))
sin = public(sin_p, "sin x.  ∂/∂x = cos x")

cos_p = Primitive("cos", np.cos, (lambda g, ans, x: -g * sin_p.bind(x),))
cos = public(cos_p, "cos x.  ∂/∂x = −sin x")

tanh_p = Primitive("tanh", np.tanh, (lambda g, ans, x: g * (1 - ans * ans),))
tanh = public(tanh_p, "tanh x.  ∂/∂x = 1 − tanh²x")

sigmoid_p = Primitive("sigmoid", _stable_sigmoid, (lambda g, ans, x: g * (ans * (1 - ans)),))
sigmoid = public(sigmoid_p, "σ(x) = 1/(1 + e⁻ˣ), stable on both tails.  ∂/∂x = σ(1 − σ)\n\n"
                            ">>> sigmoid(0.0)\nTensor(shape=[], dtype=Float32, value= 0.5)")

def _softplus(x):
    """ln(1 + eˣ) = max(x, 0) + ln(1 + e^{−|x|}): finite for every x, exact for large |x|."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


softplus_p = Primitive("softplus", _softplus, (lambda g, ans, x: g * sigmoid_p.bind(x),))
softplus = public(softplus_p, "ln(1 + eˣ), stable.  ∂/∂x = σ(x)")

relu_p = Primitive("relu", lambda x: np.maximum(x, 0), (lambda g, ans, x: g * (x > 0),))
relu = public(relu_p, "max(x, 0).  ∂/∂x = 1 where x > 0, else 0")

# ----- binary, with NumPy broadcasting -----

add_p = Primitive("add", np.add, (lambda g, ans, x, y: g, lambda g, ans, x, y: g))
add = public(add_p, "x + y.  ∂/∂x = 1, ∂/∂y = 1")

sub_p = Primitive("sub", np.subtract, (lambda g, ans, x, y: g, lambda g, ans, x, y: -g))
sub = public(sub_p, "x − y.  ∂/∂x = 1, ∂/∂y = −1")

mul_p = Primitive("mul", np.multiply, (lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x))
mul = public(mul_p, "x · y.  ∂/∂x = y, ∂/∂y = x")

div_p = Primitive("div", np.true_divide, (lambda g, ans, x, y: g / y, lambda g, ans, x, y: -g * ans / y))
div = public(div_p, "x / y.  ∂/∂x = 1/y, ∂/∂y = −x/y²")


def _pow_vjp_base(g, ans, x, y):
    return g * (y * x ** (y - 1))


def _pow_vjp_exponent(g, ans, x, y):
    safe_x = where_p.bind(x == 0, 1, x)  # d/dy xʸ = xʸ ln x, taken as 0 where x = 0
    return g * (ans * log_p.bind(safe_x))


pow_p = Primitive("pow", np.power, (_pow_vjp_base, _pow_vjp_exponent))
pow = public(pow_p, "xʸ.  ∂/∂x = y·xʸ⁻¹, ∂/∂y = xʸ·ln x")

floordiv_p = Primitive("floordiv", np.floor_divide)
floordiv = public(floordiv_p, "⌊x / y⌋.  Piecewise constant: not differentiable (zero gradient).")

mod_p = Primitive("mod", np.mod, (lambda g, ans, x, y: g,
                                  lambda g, ans, x, y: -g * floordiv_p.bind(x, y)))
mod = public(mod_p, "x mod y (sign of y, as NumPy).  ∂/∂x = 1, ∂/∂y = −⌊x/y⌋")


def _winner_share(g, a, b):
    """g where a wins, g/2 where a and b tie, 0 where b wins (ties split evenly, as in JAX and PyTorch)."""
    return g * (a > b) + (0.5 * g) * (a == b)


maximum_p = Primitive("maximum", np.maximum, (lambda g, ans, x, y: _winner_share(g, x, y),
                                              lambda g, ans, x, y: _winner_share(g, y, x)))
maximum = public(maximum_p, "max(x, y) elementwise.  ∂/∂x = [x > y] + ½[x = y]")

minimum_p = Primitive("minimum", np.minimum, (lambda g, ans, x, y: _winner_share(g, y, x),
                                              lambda g, ans, x, y: _winner_share(g, x, y)))
minimum = public(minimum_p, "min(x, y) elementwise.  ∂/∂x = [x < y] + ½[x = y]")

where_p = Primitive("where", _where_impl, (None,
                                           lambda g, ans, c, x, y: where_p.bind(c, g, 0),
                                           lambda g, ans, c, x, y: where_p.bind(c, 0, g)))
where = public(where_p, "condition ? x : y elementwise.  ∂/∂x = [condition], ∂/∂y = [¬condition]")


def _clip_impl(x, lower, upper):
    return np.clip(x, lower, upper)


def _clip_vjp(g, ans, x, lower, upper):
    inside = True
    if lower is not None:
        inside = inside & (x >= lower)
    if upper is not None:
        inside = inside & (x <= upper)
    return g * inside


clip_p = Primitive("clip", _clip_impl, (_clip_vjp, None, None))


def clip(x, lower=None, upper=None):
    """min(max(x, lower), upper).  ∂/∂x = 1 where lower ≤ x ≤ upper (bounds included, as PyTorch's clamp)."""
    if lower is None and upper is None:
        raise ValueError("clip: pass at least one of lower= and upper=")
    return tensor_out(clip_p.bind(x, lower, upper))


# ----- comparisons and logic: not differentiable, return bool tensors -----

equal = public(Primitive("equal", np.equal), "x == y")
not_equal = public(Primitive("not_equal", np.not_equal), "x != y")
less = public(Primitive("less", np.less), "x < y")
less_equal = public(Primitive("less_equal", np.less_equal), "x <= y")
greater = public(Primitive("greater", np.greater), "x > y")
greater_equal = public(Primitive("greater_equal", np.greater_equal), "x >= y")
logical_and = public(Primitive("logical_and", np.logical_and), "x and y")
logical_or = public(Primitive("logical_or", np.logical_or), "x or y")
logical_xor = public(Primitive("logical_xor", np.logical_xor), "x xor y")
logical_not = public(Primitive("logical_not", np.logical_not), "not x")
isfinite = public(Primitive("isfinite", np.isfinite), "x is neither inf nor NaN")
isnan = public(Primitive("isnan", np.isnan), "x is NaN")


# ----- batching -----
# These rules combine g with the arguments elementwise, so extra leading (batch) axes of g broadcast through
# them unchanged (see Primitive.batchable).
for _prim in (neg_p, exp_p, log_p, log1p_p, expm1_p, sqrt_p, square_p, abs_p, sin_p, cos_p, tanh_p, sigmoid_p,
              softplus_p, relu_p, add_p, sub_p, mul_p, div_p, pow_p, mod_p, maximum_p, minimum_p, where_p, clip_p):
    _prim.batchable = True
