"""The regression family: ridge shrinks every coefficient smoothly, the lasso sets them to exactly zero one by
one; the logistic log-likelihood is a smooth concave surface whose peak is the maximum-likelihood fit."""

from __future__ import annotations

import numpy as np

from softgrad import linear_model as lm
from softgrad import ops

TRUE_COEF = np.array([3.0, -2.0, 1.5, 0.0, 0.0, 0.5, 0.0, 0.0])


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, len(TRUE_COEF)))
    return X, X @ TRUE_COEF + 0.5 * rng.standard_normal(200)


def regularization(r) -> None:
    """Coefficient paths over α on data with 4 informative features out of 8: ridge (α‖w‖²) shrinks all of them
    and zeroes none; the lasso (α‖w‖₁) zeroes the uninformative ones first and ends at all zeros. Then the
    logistic log-likelihood over (w, b) peaks at the LogisticRegression fit (C = ∞: pure maximum likelihood)."""
    X, y = _data()
    ridge_alphas, lasso_alphas = np.geomspace(1e-2, 1e5, 30), np.geomspace(1e-3, 5.0, 30)
    ridge = lm.regularization_path(lm.Ridge(), X, y, ridge_alphas)
    lasso = lm.regularization_path(lm.Lasso(), X, y, lasso_alphas)
    r.number("zero coefficients, ridge at the largest α", int(np.sum(ridge[-1] == 0)))
    r.number("zero coefficients, lasso at α = 0.1", int(np.sum(lm.Lasso(alpha=0.1).fit(X, y).coef_ == 0)))
    r.number("zero coefficients, lasso at the largest α", int(np.sum(lasso[-1] == 0)))
    r.number("largest |ridge coefficient| at the largest α", float(np.abs(ridge[-1]).max()))
    x, labels = _logistic_data()
    model = lm.LogisticRegression(C=np.inf).fit(x[:, None], labels)
    w_hat, b_hat = float(model.coef_.ravel()[0]), float(model.intercept_[0])
    grid_w, grid_b, surface = _log_likelihood_surface(x, labels)
    peak = np.unravel_index(np.argmax(surface), surface.shape)
    r.number("LogisticRegression(C=inf): w", w_hat)
    r.number("LogisticRegression(C=inf): b", b_hat)
    r.number("log-likelihood at the fit − the best on a 61×61 grid (≥ 0)",
             float(_log_likelihood(x, labels, w_hat, b_hat) - surface[peak]))
    _draw(r, ridge_alphas, ridge, lasso_alphas, lasso, (grid_w, grid_b, surface, w_hat, b_hat))


def _logistic_data():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(300)
    return x, (rng.random(300) < 1 / (1 + np.exp(-(1.5 * x + 0.5)))).astype(int)


def _log_likelihood(x, labels, w, b) -> float:
    """Σ log p(yᵢ | xᵢ) = −n · BCE-with-logits(w x + b, y)."""
    return -len(x) * float(ops.binary_cross_entropy_with_logits(w * x + b, labels.astype(np.float64)))


def _log_likelihood_surface(x, labels):
    grid_w, grid_b = np.linspace(0.0, 3.5, 61), np.linspace(-1.5, 2.0, 61)
    surface = np.array([[_log_likelihood(x, labels, w, b) for w in grid_w] for b in grid_b])
    return grid_w, grid_b, surface


def _draw(r, ridge_alphas, ridge, lasso_alphas, lasso, logistic) -> None:
    figure = r.figure(14, 4.2)
    if figure is None:
        return
    ridge_ax, lasso_ax, surface_ax = figure.subplots(1, 3)
    for k in range(ridge.shape[1]):
        style = "-" if TRUE_COEF[k] else ":"
        ridge_ax.plot(ridge_alphas, ridge[:, k], style, label=f"w{k} (true {TRUE_COEF[k]:g})")
        lasso_ax.plot(lasso_alphas, lasso[:, k], style)
    ridge_ax.set(xscale="log", xlabel="α", ylabel="coefficient", title="ridge: shrinks, never exactly 0")
    lasso_ax.set(xscale="log", xlabel="α", ylabel="coefficient", title="lasso: exact zeros, one by one")
    ridge_ax.legend(fontsize=7, ncol=2, loc="lower right")
    grid_w, grid_b, surface, w_hat, b_hat = logistic
    contours = surface_ax.contourf(grid_w, grid_b, surface, levels=30, cmap="viridis")
    figure.colorbar(contours, ax=surface_ax, label="log-likelihood")
    surface_ax.plot([w_hat], [b_hat], "r*", markersize=14, label="LogisticRegression(C=∞)")
    surface_ax.set(xlabel="w", ylabel="b", title="logistic log-likelihood: its peak is the fit")
    surface_ax.legend(fontsize=8)
    figure.suptitle("the regression family: regularisation paths (dotted: uninformative features) and maximum "
                    "likelihood")
    r.save(figure, "paths")


__all__ = ["regularization"]
