"""softgrad.linear_model: the regression family as scikit-learn estimators, fitted by softgrad's autodiff.

Files by family: ``least_squares`` (LinearRegression, Ridge, Lasso, ElasticNet, PolynomialRegression,
regularization_path), ``logistic`` (LogisticRegression), ``stepwise`` (StepwiseRegression); ``_solver`` is the
proximal Newton solver they share (objectives in softgrad ops, gradients by ``value_and_grad``), ``_base`` the
estimator protocol, the checks of X, y and hyperparameters, and the warnings.
"""

from softgrad.linear_model._base import ConvergenceWarning, NotFittedError, PerfectSeparationWarning
from softgrad.linear_model.least_squares import (
    ElasticNet, Lasso, LinearRegression, PolynomialRegression, Ridge, regularization_path,
)
from softgrad.linear_model.logistic import LogisticRegression
from softgrad.linear_model.stepwise import StepwiseRegression

__all__ = [
    "LinearRegression", "Ridge", "Lasso", "ElasticNet", "PolynomialRegression", "LogisticRegression",
    "StepwiseRegression", "regularization_path", "ConvergenceWarning", "PerfectSeparationWarning", "NotFittedError",
]
