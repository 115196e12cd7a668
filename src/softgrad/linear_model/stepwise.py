"""Stepwise regression: least squares on a subset of the features chosen greedily by an information criterion,

    AIC = n log(RSS/n) + 2k,    BIC = n log(RSS/n) + k log n,    k = |support| (+ 1 for the intercept),

the Gaussian log-likelihood at its maximum, −(n/2) log(RSS/n) + const, penalised per parameter. Forward starts
from no feature and adds the one that lowers the criterion most; backward starts from all and removes; each
stops when no step lowers it.
"""

from typing import Self

import numpy as np
import numpy.typing as npt

from softgrad.linear_model._base import Regressor, check_choice, check_flag, check_X, check_X_y
from softgrad.linear_model.least_squares import LinearRegression


class StepwiseRegression(Regressor):
    """Least squares on the features that ``direction`` selection by ``criterion`` keeps: ``support_`` (a mask),
    ``get_support()``; ``coef_`` has one entry per input feature, 0 off the support.

    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 4))
    >>> y = 3.0 * X[:, 1] - 2.0 * X[:, 3] + 0.01 * np.random.default_rng(1).normal(size=50)
    >>> StepwiseRegression(criterion="bic").fit(X, y).get_support(indices=True)
    array([1, 3])
    """

    def __init__(self, direction: str = "forward", criterion: str = "aic", fit_intercept: bool = True) -> None:
        self.direction, self.criterion, self.fit_intercept = direction, criterion, fit_intercept

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> Self:
        """Select the features of X (n_samples, n_features) for y, then fit least squares on them; returns self."""
        X, y = check_X_y(X, y)
        forward = check_choice("direction", self.direction, ("forward", "backward")) == "forward"
        per_parameter = {"aic": 2.0, "bic": np.log(len(y))}[check_choice("criterion", self.criterion, ("aic", "bic"))]
        fit_intercept = check_flag("fit_intercept", self.fit_intercept)
        support = np.full(X.shape[1], not forward)
        best, steps = self._criterion(X, y, support, per_parameter, fit_intercept), 0
        while True:
            candidates = [np.logical_xor(support, np.eye(X.shape[1], dtype=bool)[j])
                          for j in range(X.shape[1]) if support[j] != forward]
            scores = [self._criterion(X, y, c, per_parameter, fit_intercept) for c in candidates]
            if not scores or min(scores) >= best:
                break
            support, best, steps = candidates[int(np.argmin(scores))], min(scores), steps + 1
        self.support_, self.n_iter_, self.n_features_in_ = support, steps, X.shape[1]
        self.criterion_ = best
        self.coef_, self.intercept_ = self._least_squares(X, y, support, fit_intercept)
        return self

    @staticmethod
    def _least_squares(X, y, support, fit_intercept: bool) -> tuple[np.ndarray, float]:
        coef = np.zeros(X.shape[1])
        if not support.any():
            return coef, float(y.mean()) if fit_intercept else 0.0
        model = LinearRegression(fit_intercept=fit_intercept).fit(X[:, support], y)
        coef[support] = model.coef_
        return coef, model.intercept_

    def _criterion(self, X, y, support, per_parameter: float, fit_intercept: bool) -> float:
        coef, intercept = self._least_squares(X, y, support, fit_intercept)
        rss = float(np.sum((y - X @ coef - intercept) ** 2))
        n = len(y)
        return n * np.log(max(rss / n, np.finfo(np.float64).tiny)) + per_parameter * (support.sum() + fit_intercept)

    def get_support(self, indices: bool = False) -> np.ndarray:
        """The selected features: a boolean mask over X's columns, or their indices."""
        self._check_fitted()
        return np.flatnonzero(self.support_) if indices else self.support_.copy()

    def predict(self, X) -> np.ndarray:
        """ŷ = X w + b, with w zero off the support."""
        self._check_fitted()
        return check_X(X, self) @ self.coef_ + self.intercept_


__all__ = ["StepwiseRegression"]
