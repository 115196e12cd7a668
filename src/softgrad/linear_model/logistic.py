"""Logistic regression, the maximum-likelihood model of classes: binary (sigmoid + binary cross-entropy) and
multinomial (softmax + cross-entropy), with scikit-learn's objective and its newest signature,

    min_{W, b}  C Σᵢ −log p(yᵢ | xᵢ) + ρ‖W‖₁ + ½(1 − ρ)‖W‖²,    ρ = l1_ratio,  C = inf: no penalty,

    p(y = 1 | x) = σ(wᵀx + b)  (two classes),    p(y = k | x) = softmax(Wᵀx + b)_k  (three or more).

``penalty`` is deprecated (scikit-learn 1.8) in favour of ``l1_ratio`` and ``C=np.inf``; it is accepted as there:
'l2' ≡ l1_ratio=0, 'l1' ≡ l1_ratio=1, 'elasticnet' uses l1_ratio, None ≡ C=inf, each with scikit-learn's
FutureWarning, and the penalty wins over an inconsistent l1_ratio (with its UserWarning).
"""

import warnings
from typing import Self

import numpy as np
import numpy.typing as npt

from softgrad import ops
from softgrad.linear_model._base import (
    Classifier, PerfectSeparationWarning, check_count, check_flag, check_number, check_X, check_X_y,
)
from softgrad.linear_model._solver import LinearModelProblem, binary_logistic_loss, minimize, multinomial_loss

PENALTIES = ("l1", "l2", "elasticnet", None)
_DEPRECATION = ("'penalty' was deprecated in version 1.8 and will be removed in 1.10. To avoid this warning, leave "
                "'penalty' set to its default value and use 'l1_ratio' or 'C' instead. Use l1_ratio=0 instead of "
                "penalty='l2', l1_ratio=1 instead of penalty='l1', l1_ratio set to a float between 0 and 1 instead "
                "of penalty='elasticnet', and C=np.inf instead of penalty=None.")


class LogisticRegression(Classifier):
    """Penalised maximum likelihood for classes, by Newton's method (IRLS: H = Xᵀ diag(p(1 − p)) X for two
    classes), proximal Newton with coordinate descent when l1_ratio > 0. Unpenalised (C=inf) on separable
    classes no maximum-likelihood estimate exists: ``fit`` stops and warns PerfectSeparationWarning.

    >>> import numpy as np
    >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0], [-0.5], [0.5]])
    >>> model = LogisticRegression(C=10.0).fit(X, np.array([0, 0, 1, 1, 1, 0]))
    >>> model.predict(np.array([[-3.0], [3.0]]))
    array([0, 1])
    >>> model.predict_proba(np.array([[0.0]])).round(3)
    array([[0.5, 0.5]])
    """

    def __init__(self, penalty: str | None = "deprecated", *, C: float = 1.0, l1_ratio: float = 0.0,
                 fit_intercept: bool = True, tol: float = 1e-4, max_iter: int = 100) -> None:
        self.penalty, self.C, self.l1_ratio = penalty, C, l1_ratio
        self.fit_intercept, self.tol, self.max_iter = fit_intercept, tol, max_iter

    def _penalty(self) -> tuple[float, float]:
        """(ρ, 1/C) after scikit-learn's reading of penalty, l1_ratio and C."""
        C = check_number("C", self.C, 0.0, np.inf, low_open=True)
        ratio = self.l1_ratio if self.l1_ratio is None else check_number("l1_ratio", self.l1_ratio, 0.0, 1.0)
        if self.penalty == "deprecated":
            if ratio is None:
                warnings.warn("'l1_ratio=None' was deprecated in version 1.8 and will trigger an error in 1.10. "
                              "Use 0<=l1_ratio<=1 instead.", FutureWarning, stacklevel=3)
            return ratio or 0.0, 1.0 / C
        if self.penalty not in PENALTIES:
            raise ValueError(f"penalty must be one of {list(PENALTIES)} (deprecated: use l1_ratio and C), "
                             f"got {self.penalty!r}")
        if self.penalty == "elasticnet" and ratio is None:
            raise ValueError("l1_ratio must be specified when penalty is elasticnet, got None")
        warnings.warn(_DEPRECATION, FutureWarning, stacklevel=3)
        if self.penalty != "elasticnet" and ratio is not None and 0 < ratio < 1:
            warnings.warn(f"l1_ratio parameter is only used when penalty is 'elasticnet'. Got (penalty="
                          f"{self.penalty})", UserWarning, stacklevel=3)
        if (self.penalty == "l2" and ratio != 0) or (self.penalty == "l1" and ratio != 1):
            warnings.warn(f"Inconsistent values: penalty={self.penalty} with l1_ratio={ratio}. penalty is "
                          "deprecated. Please use l1_ratio only.", UserWarning, stacklevel=3)
        if self.penalty is None:
            if C != 1.0:
                warnings.warn("Setting penalty=None will ignore the C and l1_ratio parameters", UserWarning,
                              stacklevel=3)
            return 0.0, 0.0
        return {"l1": 1.0, "l2": 0.0, "elasticnet": ratio}[self.penalty], 1.0 / C

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> Self:
        """Fit on X (n_samples, n_features) and class labels y (n_samples,); returns self."""
        X, y = check_X_y(X, y, regression=False)
        ratio, inverse_C = self._penalty()
        tol, max_iter = check_number("tol", self.tol), check_count("max_iter", self.max_iter)
        self.classes_, index = _classes(y)
        n, binary = len(y), len(self.classes_) == 2
        problem = LinearModelProblem(
            X, index.astype(np.float64) if binary else index, binary_logistic_loss if binary else multinomial_loss,
            1 if binary else len(self.classes_), check_flag("fit_intercept", self.fit_intercept),
            l1=ratio * inverse_C / n, l2=(1.0 - ratio) * inverse_C / n, quadratic=False)
        stop = _separation_stop(problem.k, index) if inverse_C == 0.0 else None
        theta, n_iter = minimize(problem, tol, max_iter, "LogisticRegression", stop)
        W, b = problem.split(theta)
        self.coef_ = W.numpy().T.copy()
        # softmax(z + c) = softmax(z): the intercepts are fixed up to a constant, chosen as scikit-learn's, Σb = 0
        self.intercept_ = np.zeros(problem.k) if b is None else b - b.mean() if problem.k > 1 else b.copy()
        self.n_iter_, self.n_features_in_ = np.array([n_iter]), X.shape[1]
        return self

    def decision_function(self, X) -> np.ndarray:
        """The logits z = Wᵀx + b: (n_samples,) for two classes (log-odds of classes_[1]), else (n_samples, K)."""
        self._check_fitted()
        Z = check_X(X, self) @ self.coef_.T + self.intercept_
        return Z[:, 0] if len(self.classes_) == 2 else Z

    def _class_logits(self, X) -> np.ndarray:
        Z = self.decision_function(X)
        return np.column_stack([np.zeros_like(Z), Z]) if Z.ndim == 1 else Z

    def predict_proba(self, X) -> np.ndarray:
        """p(k | x) = softmax(z)_k (for two classes softmax([0, z]) = [1 − σ(z), σ(z)])."""
        return ops.softmax(self._class_logits(X), axis=1).numpy()

    def predict_log_proba(self, X) -> np.ndarray:
        """log p(k | x) = log_softmax(z)_k, stable for any logits."""
        return ops.log_softmax(self._class_logits(X), axis=1).numpy()

    def predict(self, X) -> np.ndarray:
        """The most probable class, classes_[argmax_k z_k]."""
        logits = self._class_logits(X)
        return self.classes_[np.argmax(logits, axis=1)]


def _classes(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted classes of y and each sample's index among them; at least 2 classes, and labels, not reals."""
    if y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
        raise ValueError(f"Unknown label type: continuous. y must hold class labels (integers, strings or "
                         f"booleans), got real values such as {y[y != np.round(y)][0]!r}")
    classes, index = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"y must hold at least 2 classes, got 1 class: {classes.tolist()}")
    return classes, index


def _separation_stop(n_outputs: int, index: np.ndarray):
    """A stop for the unpenalised fit: once an iterate classifies every sample correctly with a margin, the
    likelihood tends to 1 along it as ‖θ‖ → ∞, so it has no maximum — say so and stop."""

    def stop(Z, iteration: int) -> bool:
        if n_outputs == 1:
            separated = np.all(np.where(index == 1, Z[:, 0], -Z[:, 0]) > 0)
        else:
            true = Z[np.arange(len(index)), index]
            Z[np.arange(len(index)), index] = -np.inf
            separated = np.all(true > Z.max(axis=1))
        if separated:
            warnings.warn(f"LogisticRegression: the classes are linearly separable (Newton iterate {iteration} "
                          "classifies every training sample correctly), so the unpenalised likelihood has no "
                          "maximum: it tends to 1 as ‖w‖ → ∞, and the coefficients returned have no meaningful "
                          "scale. Use a finite C (a penalty) for a unique solution", PerfectSeparationWarning,
                          stacklevel=4)
        return separated

    return stop


__all__ = ["LogisticRegression"]
