"""Taylor rules, for ``jet`` and ``derivative`` (``softgrad.autodiff.taylor``): the Taylor coefficients of a
primitive's output along a curve, from those of its inputs.

A value on the curve is x(t) = x₀ + x₁t + x₂t² + … + x_Kt^K (coefficients, xₖ = x⁽ᵏ⁾/k!). A rule
``rule(prim, series, ans, args, params)`` gets, per argument, the list [x₁ … x_K] (None: constant along the
curve), the output ``ans`` = y₀ and the arguments x₀, and returns [y₁ … y_K]. Rules are written over values
with ``bind`` and operators, so they differentiate and batch again. Each is the classical recurrence
(Griewank & Walther, *Evaluating Derivatives*, ch. 13), O(K²) work for all K orders:

* linear f:            yₖ = f(xₖ)  (the forward rule applied to the k-th coefficients)
* bilinear B(a, b):    yₖ = Σⱼ₌₀ᵏ B(aⱼ, bₖ₋ⱼ)  (mul, matmul, einsum of two)
* y = a / b:           yₖ = (aₖ − Σⱼ₌₁ᵏ bⱼ yₖ₋ⱼ) / b₀
* y = eˣ:              yₖ = (1/k) Σⱼ₌₁ᵏ j xⱼ yₖ₋ⱼ
* y = ln x:            yₖ = (xₖ − (1/k) Σⱼ₌₁ᵏ⁻¹ j yⱼ xₖ₋ⱼ) / x₀
* y = √x:              yₖ = (xₖ − Σⱼ₌₁ᵏ⁻¹ yⱼ yₖ₋ⱼ) / (2y₀)
* y = xᵃ (a constant): yₖ = 1/(k x₀) Σⱼ₌₁ᵏ ((a + 1)j − k) xⱼ yₖ₋ⱼ
* y′ = z·x′ (sin/cos, tanh: z = 1 − y², sigmoid: z = y − y²): yₖ = (1/k) Σⱼ₌₁ᵏ j xⱼ zₖ₋ⱼ
* relu:                yₖ = xₖ·[x₀ > 0]

A primitive without a rule here is expanded by nested ``jvp``s of that primitive alone (``autodiff.taylor``).
"""

from __future__ import annotations

from softgrad.ops._primitive import kept_shape, shape_of
from softgrad.ops.elementwise import cos_p, exp_p, sin_p


def _orders(series) -> int:
    return next(len(s) for s in series if s is not None)


def _coefficient(series, primal, k: int):
    """The k-th coefficient of one argument: x₀ for k = 0, None where it is constant along the curve."""
    if k == 0:
        return primal
    return None if series is None else series[k - 1]


def linear(prim, series, ans, args, params):
    return [prim.jvp([None if s is None else s[k] for s in series], ans, *args, **params)
            for k in range(_orders(series))]


def bilinear(prim, series, ans, args, params):
    (sa, sb), (a, b) = series, args[:2]
    out = []
    for k in range(1, _orders(series) + 1):
        total = None
        for j in range(k + 1):
            left, right = _coefficient(sa, a, j), _coefficient(sb, b, k - j)
            if left is not None and right is not None:
                term = prim.bind(left, right, *args[2:], **params)
                total = term if total is None else total + term
        out.append(total)
    return out


def divide(prim, series, ans, args, params):
    (sa, sb), (a, b) = series, args
    ys = [ans]
    for k in range(1, _orders(series) + 1):
        y = _coefficient(sa, a, k)
        for j in range(1, k + 1):
            bj = _coefficient(sb, b, j)
            if bj is not None:
                y = -(bj * ys[k - j]) if y is None else y - bj * ys[k - j]
        ys.append(y / b)
    return ys[1:]


def _first_order_ode(z_of):
    """y′ = z(y)·x′ for one argument: yₖ = (1/k) Σⱼ j xⱼ zₖ₋ⱼ, with ``z_of(ys, zs, m)`` giving z's m-th
    coefficient from the y coefficients so far (and the z ones)."""

    def rule(prim, series, ans, args, params):
        (xs,) = series[:1]
        ys, zs = [ans], [z_of([ans], [], 0)]
        for k in range(1, len(xs) + 1):
            y = sum((j / k) * xs[j - 1] * zs[k - j] for j in range(1, k + 1))
            ys.append(y)
            zs.append(z_of(ys, zs, k))
        return ys[1:]

    return rule


def _cauchy(a, b, m: int):
    """The m-th coefficient of a·b from coefficient lists a, b."""
    return sum(a[i] * b[m - i] for i in range(m + 1))


def _exp_series(y0, xs):
    """[y₁ … y_K] of y = e^{x}·c for y₀ = e^{x₀}·c: yₖ = (1/k) Σⱼ j xⱼ yₖ₋ⱼ."""
    ys = [y0]
    for k in range(1, len(xs) + 1):
        ys.append(sum((j / k) * xs[j - 1] * ys[k - j] for j in range(1, k + 1)))
    return ys[1:]


def _log_series(x0, xs):
    """[y₁ … y_K] of y = ln x: yₖ = (xₖ − (1/k) Σⱼ₌₁ᵏ⁻¹ j yⱼ xₖ₋ⱼ) / x₀."""
    ys = [None]
    for k in range(1, len(xs) + 1):
        y = xs[k - 1]
        for j in range(1, k):
            y = y - (j / k) * ys[j] * xs[k - j - 1]
        ys.append(y / x0)
    return ys[1:]


def exp(prim, series, ans, args, params):
    return _exp_series(ans, series[0])


def log(prim, series, ans, args, params):
    return _log_series(args[0], series[0])


def _softmax_family(kind: str):
    """softmax, log_softmax, logsumexp over ``axis``: with p₀ = softmax(x₀), the coefficients of
    e = e^{x − lse(x₀)} (e₀ = p₀), of its sum over the axis (1 at t = 0) and of the log of that sum, lₖ;
    then logsumexp: lₖ, log_softmax: xₖ − lₖ, softmax: the exp series of log_softmax's from p₀."""

    def rule(prim, series, ans, args, params):
        (xs,), (x,), axis = series, args, params["axis"]
        if kind == "logsumexp":
            axes = tuple(range(len(shape_of(x)))) if axis is None else axis
            kept = kept_shape(shape_of(x), axes)
            p0 = exp_p.bind(x - ans.reshape(kept))
        else:
            axes, kept = axis, None
            p0 = ans if kind == "softmax" else exp_p.bind(ans)
        totals = [e.sum(axis=axes, keepdims=True) for e in _exp_series(p0, xs)]
        ls = _log_series(1, totals)
        if kind == "logsumexp":
            return ls if params["keepdims"] else [l.reshape(shape_of(ans)) for l in ls]
        log_p = [xk - lk for xk, lk in zip(xs, ls)]
        return log_p if kind == "log_softmax" else _exp_series(p0, log_p)

    return rule


tanh = _first_order_ode(lambda ys, zs, m: 1 - ys[0] * ys[0] if m == 0 else -_cauchy(ys, ys, m))
sigmoid = _first_order_ode(lambda ys, zs, m: ys[m] - _cauchy(ys, ys, m))


def sqrt(prim, series, ans, args, params):
    (xs,) = series
    ys = [ans]
    for k in range(1, len(xs) + 1):
        y = xs[k - 1]
        for j in range(1, k):
            y = y - ys[j] * ys[k - j]
        ys.append(y / (2 * ans))
    return ys[1:]


def power(prim, series, ans, args, params):
    """xᵃ with a constant along the curve; a moving exponent goes through the fallback (None)."""
    (xs, s_exponent), (x, a) = series, args
    if s_exponent is not None or xs is None:
        return None
    ys = [ans]
    for k in range(1, len(xs) + 1):
        y = sum(((a + 1) * j - k) * xs[j - 1] * ys[k - j] for j in range(1, k + 1))
        ys.append(y / (k * x))
    return ys[1:]


def sin_cos(which: str):
    """sin and cos together: sₖ = (1/k) Σ j xⱼ cₖ₋ⱼ, cₖ = −(1/k) Σ j xⱼ sₖ₋ⱼ."""

    def rule(prim, series, ans, args, params):
        (xs,), (x,) = series, args
        s, c = ([ans], [cos_p.bind(x)]) if which == "sin" else ([sin_p.bind(x)], [ans])
        for k in range(1, len(xs) + 1):
            s.append(sum((j / k) * xs[j - 1] * c[k - j] for j in range(1, k + 1)))
            c.append(-sum((j / k) * xs[j - 1] * s[k - j] for j in range(1, k + 1)))
        return (s if which == "sin" else c)[1:]

    return rule


def relu(prim, series, ans, args, params):
    (xs,), (x,) = series, args
    positive = x > 0
    return [xk * positive for xk in xs]


LINEAR = ("neg add sub reshape transpose broadcast_to getitem untake copy sum mean cumsum concat take_along "
          "put_along").split()

#: primitive name -> rule (the families concat[n], einsum[n] by their base name)
TAYLOR_RULES = {
    **{name: linear for name in LINEAR},
    "mul": bilinear, "matmul": bilinear, "div": divide, "exp": exp, "log": log, "sqrt": sqrt, "pow": power,
    "sin": sin_cos("sin"), "cos": sin_cos("cos"), "tanh": tanh, "sigmoid": sigmoid, "relu": relu,
    "softmax": _softmax_family("softmax"), "log_softmax": _softmax_family("log_softmax"),
    "logsumexp": _softmax_family("logsumexp"),
}


def taylor_rule(prim):
    """The Taylor rule of ``prim`` (einsum of two operands is bilinear), or None."""
    name = prim.name.partition("[")[0]
    if prim.name == "einsum[2]":
        return bilinear
    return TAYLOR_RULES.get(name)


__all__ = ["TAYLOR_RULES", "LINEAR", "taylor_rule"]
