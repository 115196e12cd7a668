"""What every estimator of softgrad.linear_model shares: scikit-learn's estimator protocol (get_params,
set_params, repr, tags), the scores (R² and accuracy), the warnings, and the checks of X, y and the
hyperparameters, each naming the argument, the expected and the actual value.

Only NumPy at run time: scikit-learn is imported inside ``__sklearn_tags__`` alone, which only scikit-learn calls.
"""

import inspect
import numbers

import numpy as np


class ConvergenceWarning(UserWarning):
    """A solver stopped at its iteration cap (``max_iter``) before meeting its tolerance (``tol``)."""


class PerfectSeparationWarning(ConvergenceWarning):
    """Unpenalised logistic regression on separable classes: the likelihood tends to 1 as ‖w‖ → ∞, so no
    maximum-likelihood estimate exists; the coefficients returned separate the classes but their scale means
    nothing."""


class NotFittedError(ValueError, AttributeError):
    """A prediction asked of an estimator that has not been fitted (the bases of scikit-learn's)."""


# ----- the estimator protocol -----


class Estimator:
    """scikit-learn's protocol: the constructor's arguments are the hyperparameters, stored as given (checked by
    ``fit``), read by ``get_params`` and written by ``set_params``, so ``clone``, ``Pipeline`` and ``GridSearchCV``
    work."""

    _estimator_type = "regressor"

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return sorted(name for name in signature.parameters if name != "self")

    def get_params(self, deep: bool = True) -> dict:
        """The hyperparameters by name (``deep`` is accepted for scikit-learn: these estimators nest none)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set hyperparameters by name; returns self."""
        for name, value in params.items():
            if name not in self._param_names():
                raise ValueError(f"Invalid parameter {name!r} for estimator {type(self).__name__}: expected one of "
                                 f"{self._param_names()}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [f"{name}={value!r}" for name, value in self.get_params().items()
                   if not _same(value, defaults[name].default)]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, InputTags, RegressorTags, Tags, TargetTags

        classifier = self._estimator_type == "classifier"
        return Tags(estimator_type=self._estimator_type, target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags() if classifier else None,
                    regressor_tags=None if classifier else RegressorTags(), input_tags=InputTags())

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet: call fit(X, y) first")


def _same(value, default) -> bool:
    return value is default or (type(value) is type(default) and value == default)


class Regressor(Estimator):
    def score(self, X, y) -> float:
        """The coefficient of determination R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² (1 for a perfect fit of a constant y,
        0 otherwise, as scikit-learn)."""
        y = check_target(y, "y", regression=True)
        residual = float(np.sum((y - self.predict(X)) ** 2))
        total = float(np.sum((y - y.mean()) ** 2))
        if total == 0.0:
            return 1.0 if residual == 0.0 else 0.0
        return 1.0 - residual / total


class Classifier(Estimator):
    _estimator_type = "classifier"

    def score(self, X, y) -> float:
        """The accuracy: the fraction of samples whose predicted class is y."""
        return float(np.mean(self.predict(X) == np.asarray(y)))


# ----- data -----


def check_X(X, estimator: Estimator | None = None) -> np.ndarray:
    """X as a C-contiguous float64 (n_samples, n_features) array of finite numbers with a sample and a feature;
    with a fitted ``estimator``, also its number of features."""
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(f"X must be a dense array: a sparse {type(X).__name__} was passed (call X.toarray())")
    X = np.asarray(X)
    if X.dtype.kind == "c":
        raise ValueError(f"X must hold real numbers: Complex data not supported (got dtype {X.dtype})")
    try:
        X = np.ascontiguousarray(X, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise type(error)(f"X must hold numbers: {error}") from None
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (n_samples, n_features), got shape {X.shape}. Reshape your data: "
                         "X.reshape(-1, 1) for a single feature, X.reshape(1, -1) for a single sample")
    for axis, what in enumerate(("sample", "feature")):
        if X.shape[axis] == 0:
            raise ValueError(f"X must hold at least 1 {what}, got 0 {what}(s) (shape={X.shape}) while a minimum of 1 "
                             "is required.")
    _check_finite(X, "X")
    if estimator is not None and X.shape[1] != estimator.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
                         f"{estimator.n_features_in_} features as input")
    return X


def _check_finite(a: np.ndarray, name: str) -> None:
    if not np.isfinite(a).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        kind = "NaN" if np.isnan(a[where]) else "inf"
        index = ", ".join(map(str, where))
        raise ValueError(f"{name} must hold finite numbers: {name} contains {kind} ({name}[{index}] = {a[where]}); "
                         "drop or impute the missing or infinite values first")


def check_target(y, name: str = "y", regression: bool = True) -> np.ndarray:
    """y as a 1-d array (float64 and finite for a regressor; a column vector is flattened)."""
    if y is None:
        raise ValueError(f"{name} is required: this estimator requires y to be passed, but the target y is None")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array (n_samples,), got shape {y.shape}")
    if regression or y.dtype.kind in "fc":
        y = y.astype(np.float64)
        _check_finite(y, name)
    return y


def check_X_y(X, y, regression: bool = True) -> tuple[np.ndarray, np.ndarray]:
    X, y = check_X(X), check_target(y, "y", regression)
    if len(y) != X.shape[0]:
        raise ValueError(f"X and y must have the same number of samples: X has {X.shape[0]}, y has {len(y)}")
    return X, y


# ----- hyperparameters -----


def check_number(name: str, value, low: float = 0.0, high: float = np.inf, low_open: bool = False) -> float:
    """A real hyperparameter in [low, high] (or (low, high]); written so that NaN fails."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    inside = (value > low if low_open else value >= low) and value <= high
    if not inside:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must lie in {bracket}{low}, {high}], got {value!r}")
    return float(value)


def check_count(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer ≥ {low}, got {value!r}")
    return int(value)


def check_choice(name: str, value, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)
