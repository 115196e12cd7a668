"""Least squares and its penalised family, with scikit-learn's objectives (n samples, X and y centred when
``fit_intercept``, so the intercept ȳ − x̄ᵀw is never penalised):

    LinearRegression   (1/2n)‖y − Xw‖²
    Ridge(α)           ‖y − Xw‖² + α‖w‖²                                  (≡ (1/2n)‖y − Xw‖² + (α/2n)‖w‖²)
    Lasso(α)           (1/2n)‖y − Xw‖² + α‖w‖₁
    ElasticNet(α, ρ)   (1/2n)‖y − Xw‖² + αρ‖w‖₁ + ½α(1 − ρ)‖w‖²
    PolynomialRegression(degree, α)   Ridge(α) on every monomial of X of degree 1 … degree

The MSE is the negative log-likelihood of y = Xw + b + Gaussian noise, so least squares is its maximum
likelihood; each is fitted by the proximal Newton solver of ``_solver`` (one exact Newton step for the smooth
ones, then a step that checks it).
"""

from itertools import combinations_with_replacement
from typing import Self

import numpy as np
import numpy.typing as npt

from softgrad.linear_model._base import (
    Regressor, check_count, check_flag, check_number, check_X, check_X_y,
)
from softgrad.linear_model._solver import LinearModelProblem, minimize, squared_loss


class _LeastSquares(Regressor):
    """fit/predict for (1/2n)‖y − Xw − b‖² + ½λ₂‖w‖² + λ₁‖w‖₁; a subclass gives (λ₁, λ₂) and its features."""

    def _penalties(self, n_samples: int) -> tuple[float, float]:
        raise NotImplementedError

    def _features(self, X: np.ndarray) -> np.ndarray:
        return X

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> Self:
        """Fit on X (n_samples, n_features) and y (n_samples,); returns self."""
        X, y = check_X_y(X, y)
        l1, l2 = self._penalties(len(y))
        tol, max_iter = check_number("tol", self.tol), check_count("max_iter", self.max_iter)
        self.n_features_in_ = X.shape[1]
        D = self._features(X)
        x_offset, y_offset = (D.mean(axis=0), y.mean()) if check_flag("fit_intercept", self.fit_intercept) \
            else (np.zeros(D.shape[1]), 0.0)
        problem = LinearModelProblem(D - x_offset, y - y_offset, squared_loss, 1, False, l1, l2, quadratic=True)
        self.coef_, self.n_iter_ = minimize(problem, tol, max_iter, type(self).__name__)
        self.intercept_ = float(y_offset - x_offset @ self.coef_)
        return self

    def predict(self, X) -> np.ndarray:
        """ŷ = Xw + b."""
        self._check_fitted()
        return self._features(check_X(X, self)) @ self.coef_ + self.intercept_


class LinearRegression(_LeastSquares):
    """Ordinary least squares: w, b = argmin (1/2n)‖y − Xw − b‖² (the minimum-norm w when X's columns are
    dependent).

    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> model = LinearRegression().fit(X, 1.0 + 2.0 * X[:, 0])
    >>> print(model.coef_.round(6), round(model.intercept_, 6))
    [2.] 1.0
    """

    def __init__(self, fit_intercept: bool = True, tol: float = 1e-4, max_iter: int = 100) -> None:
        self.fit_intercept, self.tol, self.max_iter = fit_intercept, tol, max_iter

    def _penalties(self, n_samples):
        return 0.0, 0.0


class Ridge(_LeastSquares):
    """w, b = argmin ‖y − Xw − b‖² + α‖w‖² (scikit-learn's scaling of α): w = (XᵀX + αI)⁻¹Xᵀy on centred data.

    >>> import numpy as np
    >>> X = np.array([[1.0], [-1.0]])
    >>> Ridge(alpha=2.0).fit(X, np.array([1.0, -1.0])).coef_.round(6)   # Σxy / (Σx² + α) = 2 / 4
    array([0.5])
    """

    def __init__(self, alpha: float = 1.0, fit_intercept: bool = True, tol: float = 1e-4, max_iter: int = 100) -> None:
        self.alpha, self.fit_intercept, self.tol, self.max_iter = alpha, fit_intercept, tol, max_iter

    def _penalties(self, n_samples):
        return 0.0, check_number("alpha", self.alpha) / n_samples


class Lasso(_LeastSquares):
    """w, b = argmin (1/2n)‖y − Xw − b‖² + α‖w‖₁; coordinate descent with soft-thresholding gives exact zeros.

    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [-1.0, 0.1], [1.0, -0.1], [-1.0, 0.0]])
    >>> Lasso(alpha=0.5).fit(X, np.array([2.0, -2.0, 2.0, -2.0])).coef_   # x₀w₀ shrinks by α: 2 − ½
    array([1.5, 0. ])
    """

    def __init__(self, alpha: float = 1.0, fit_intercept: bool = True, tol: float = 1e-4,
                 max_iter: int = 1000) -> None:
        self.alpha, self.fit_intercept, self.tol, self.max_iter = alpha, fit_intercept, tol, max_iter

    def _penalties(self, n_samples):
        return check_number("alpha", self.alpha), 0.0


class ElasticNet(_LeastSquares):
    """w, b = argmin (1/2n)‖y − Xw − b‖² + αρ‖w‖₁ + ½α(1 − ρ)‖w‖², ρ = l1_ratio (1: the lasso, 0: ridge).

    >>> import numpy as np
    >>> X = np.array([[1.0], [-1.0]])
    >>> ElasticNet(alpha=0.5, l1_ratio=0.5).fit(X, np.array([2.0, -2.0])).coef_   # (2 − αρ) / (1 + α(1 − ρ))
    array([1.4])
    """

    def __init__(self, alpha: float = 1.0, l1_ratio: float = 0.5, fit_intercept: bool = True, tol: float = 1e-4,
                 max_iter: int = 1000) -> None:
        self.alpha, self.l1_ratio, self.fit_intercept = alpha, l1_ratio, fit_intercept
        self.tol, self.max_iter = tol, max_iter

    def _penalties(self, n_samples):
        alpha, ratio = check_number("alpha", self.alpha), check_number("l1_ratio", self.l1_ratio, 0.0, 1.0)
        return alpha * ratio, alpha * (1.0 - ratio)


class PolynomialRegression(_LeastSquares):
    """Ridge(α) (least squares for α = 0) on the monomials x^a of total degree 1 … degree, in scikit-learn's
    PolynomialFeatures(include_bias=False) order; ``powers_[m]`` holds monomial m's exponents.

    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> model = PolynomialRegression(degree=2).fit(X, 1.0 - X[:, 0] + 0.5 * X[:, 0] ** 2)
    >>> print(model.coef_.round(6), round(model.intercept_, 6))
    [-1.   0.5] 1.0
    """

    def __init__(self, degree: int = 2, alpha: float = 0.0, fit_intercept: bool = True, tol: float = 1e-4,
                 max_iter: int = 100) -> None:
        self.degree, self.alpha, self.fit_intercept, self.tol, self.max_iter = degree, alpha, fit_intercept, tol, \
            max_iter

    def _penalties(self, n_samples):
        return 0.0, check_number("alpha", self.alpha) / n_samples

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> Self:
        """Fit on the monomials of X (n_samples, n_features) and y (n_samples,); returns self."""
        degree, n_features = check_count("degree", self.degree), check_X(X).shape[1]
        self.powers_ = np.array([np.bincount(c, minlength=n_features) for d in range(1, degree + 1)
                                 for c in combinations_with_replacement(range(n_features), d)])
        return super().fit(X, y)

    def _features(self, X):
        return np.column_stack([np.prod(X[:, powers > 0] ** powers[powers > 0], axis=1) for powers in self.powers_])


def regularization_path(estimator, X, y, alphas) -> np.ndarray:
    """The coefficients of ``estimator`` (one with an ``alpha``: Ridge, Lasso, ElasticNet, PolynomialRegression)
    refitted at each α: row i is coef_ at alphas[i] (for drawing coefficient paths).

    >>> import numpy as np
    >>> X = np.array([[1.0], [-1.0]])
    >>> regularization_path(Ridge(), X, np.array([1.0, -1.0]), [0.0, 2.0]).round(6)
    array([[1. ],
           [0.5]])
    """
    if "alpha" not in estimator.get_params():
        raise ValueError(f"estimator must have an alpha hyperparameter (Ridge, Lasso, ElasticNet, "
                         f"PolynomialRegression), got {estimator!r}")
    params = estimator.get_params()
    return np.array([type(estimator)(**dict(params, alpha=alpha)).fit(X, y).coef_ for alpha in alphas])


__all__ = ["LinearRegression", "Ridge", "Lasso", "ElasticNet", "PolynomialRegression", "regularization_path"]
