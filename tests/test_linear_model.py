"""softgrad.linear_model against scikit-learn (issue #17): the same coefficients, zero patterns, predictions and
scores on the bundled data sets (standardised) and seeded synthetic data, scikit-learn run to tol=1e-10;
scikit-learn's estimator checks; the deprecated ``penalty``; separable classes; stepwise selection; the Hessian
the solver assembles is softgrad.hessian's."""

import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", minversion="1.6")  # __sklearn_tags__ and expected_failed_checks

from sklearn import datasets  # noqa: E402
from sklearn import linear_model as sk  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import PolynomialFeatures, StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import softgrad as sg  # noqa: E402
from softgrad import linear_model as lm  # noqa: E402
from softgrad.linear_model import _solver  # noqa: E402
from softgrad.linear_model._solver import LinearModelProblem, binary_logistic_loss, multinomial_loss  # noqa: E402

RTOL = 1e-4
TIGHT = {"tol": 1e-10, "max_iter": 100_000}


def standardised(load):
    X, y = load(return_X_y=True)
    return StandardScaler().fit_transform(X), y


DIABETES, CANCER, IRIS = standardised(datasets.load_diabetes), standardised(datasets.load_breast_cancer), \
    standardised(datasets.load_iris)
_rng = np.random.default_rng(0)
X_SYN = _rng.normal(size=(300, 6))
W_SYN = np.array([2.0, -1.0, 0.0, 0.0, 1.0, 0.0])
Y_SYN = X_SYN @ W_SYN + 0.5 + _rng.normal(size=300)
C_SYN = (X_SYN @ W_SYN + _rng.logistic(size=300) > 0).astype(int)


def assert_same_fit(ours, theirs, X, y):
    """coef_ and intercept_ to 1e-4 relative (of the largest), the same exact zeros, predictions and score."""
    ours.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        theirs.fit(X, y)
    scale = np.abs(theirs.coef_).max()
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=0, atol=RTOL * scale)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=RTOL, atol=RTOL * scale)
    np.testing.assert_array_equal(ours.coef_ == 0, theirs.coef_ == 0)
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y), rel=RTOL)
    if hasattr(theirs, "predict_proba"):
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
        for method in ("predict_proba", "predict_log_proba", "decision_function"):
            np.testing.assert_allclose(getattr(ours, method)(X), getattr(theirs, method)(X), rtol=RTOL, atol=RTOL)
    else:
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=RTOL, atol=RTOL * np.abs(y).max())


REGRESSION = [
    ("LinearRegression diabetes", lm.LinearRegression(), sk.LinearRegression(), DIABETES),
    ("Ridge diabetes", lm.Ridge(alpha=3.0), sk.Ridge(alpha=3.0, tol=1e-10), DIABETES),
    ("Lasso diabetes", lm.Lasso(alpha=0.5), sk.Lasso(alpha=0.5, **TIGHT), DIABETES),
    ("Lasso diabetes sparse", lm.Lasso(alpha=5.0), sk.Lasso(alpha=5.0, **TIGHT), DIABETES),
    ("ElasticNet diabetes", lm.ElasticNet(alpha=0.5, l1_ratio=0.3), sk.ElasticNet(alpha=0.5, l1_ratio=0.3, **TIGHT),
     DIABETES),
    ("Lasso synthetic", lm.Lasso(alpha=0.1), sk.Lasso(alpha=0.1, **TIGHT), (X_SYN, Y_SYN)),
    ("Ridge synthetic no intercept", lm.Ridge(alpha=10.0, fit_intercept=False),
     sk.Ridge(alpha=10.0, fit_intercept=False, tol=1e-10), (X_SYN, Y_SYN)),
    ("LinearRegression synthetic", lm.LinearRegression(), sk.LinearRegression(), (X_SYN, Y_SYN)),
]
NEWTON = {"solver": "newton-cholesky", **TIGHT}
SAGA = {"solver": "saga", **TIGHT}
CLASSIFICATION = [
    ("binary L2 breast cancer", lm.LogisticRegression(C=0.5), sk.LogisticRegression(C=0.5, **NEWTON), CANCER),
    ("multinomial L2 iris", lm.LogisticRegression(C=2.0), sk.LogisticRegression(C=2.0, **NEWTON), IRIS),
    ("multinomial no intercept iris", lm.LogisticRegression(fit_intercept=False),
     sk.LogisticRegression(fit_intercept=False, **NEWTON), IRIS),
    ("binary L1 synthetic", lm.LogisticRegression(C=0.05, l1_ratio=1.0),
     sk.LogisticRegression(C=0.05, l1_ratio=1.0, **SAGA), (X_SYN, C_SYN)),
    ("binary elastic-net synthetic", lm.LogisticRegression(C=0.05, l1_ratio=0.5),
     sk.LogisticRegression(C=0.05, l1_ratio=0.5, **SAGA), (X_SYN, C_SYN)),
    ("multinomial L1 iris", lm.LogisticRegression(C=0.5, l1_ratio=1.0),
     sk.LogisticRegression(C=0.5, l1_ratio=1.0, **SAGA), IRIS),
    ("binary unpenalised synthetic", lm.LogisticRegression(C=np.inf), sk.LogisticRegression(C=np.inf, **NEWTON),
     (X_SYN, C_SYN)),
]


@pytest.mark.parametrize("ours,theirs,data", [case[1:] for case in REGRESSION + CLASSIFICATION],
                         ids=[case[0] for case in REGRESSION + CLASSIFICATION])
def test_matches_scikit_learn(ours, theirs, data):
    assert_same_fit(ours, theirs, *data)


def test_the_lasso_reaches_exact_zeros_on_the_known_support():
    model = lm.Lasso(alpha=0.1).fit(X_SYN, Y_SYN)
    np.testing.assert_array_equal(model.coef_ != 0, W_SYN != 0)


@pytest.mark.parametrize("degree,alpha", [(2, 0.0), (3, 1.0)])
def test_polynomial_regression_is_polynomial_features_then_least_squares(degree, alpha):
    X, y = DIABETES[0][:, :3], DIABETES[1]
    linear = sk.Ridge(alpha=alpha, tol=1e-10) if alpha else sk.LinearRegression()
    theirs = make_pipeline(PolynomialFeatures(degree, include_bias=False), linear).fit(X, y)
    ours = lm.PolynomialRegression(degree=degree, alpha=alpha).fit(X, y)
    np.testing.assert_array_equal(ours.powers_, theirs[0].powers_)
    np.testing.assert_allclose(ours.coef_, theirs[-1].coef_, rtol=RTOL, atol=RTOL * np.abs(ours.coef_).max())
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=RTOL)


# ----- scikit-learn's estimator checks -----

#: the checks that need scikit-learn's own classes, which softgrad's runtime does not import
NEEDS_SKLEARN_CLASSES = {
    "check_estimators_unfitted": "isinstance of sklearn.exceptions.NotFittedError; softgrad raises its own "
                                 "NotFittedError with the same bases (ValueError, AttributeError), tested below",
    "check_supervised_y_2d": "a column-vector y must warn sklearn.exceptions.DataConversionWarning; softgrad "
                             "flattens a column y silently (a warning class of scikit-learn's would import it)",
}
ESTIMATORS = [lm.LinearRegression(), lm.Ridge(), lm.Lasso(alpha=0.1), lm.ElasticNet(alpha=0.1),
              lm.PolynomialRegression(), lm.LogisticRegression(), lm.LogisticRegression(l1_ratio=0.5),
              lm.StepwiseRegression(direction="backward", criterion="bic")]


with warnings.catch_warnings():  # collecting the checks warns that these do not inherit scikit-learn's BaseEstimator
    warnings.filterwarnings("ignore", "Estimator .* does not inherit from `sklearn.base.BaseEstimator`")
    ESTIMATOR_CHECKS = parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: NEEDS_SKLEARN_CLASSES)


@ESTIMATOR_CHECKS
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Estimator .* does not inherit from `sklearn.base.BaseEstimator`")
        check(estimator)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba", "decision_function", "score"])
def test_unfitted_estimators_raise_not_fitted_error(method):
    with pytest.raises(lm.NotFittedError, match="not fitted yet"):
        getattr(lm.LogisticRegression(), method)(CANCER[0], *([CANCER[1]] if method == "score" else []))
    assert issubclass(lm.NotFittedError, ValueError) and issubclass(lm.NotFittedError, AttributeError)


def test_pipeline_grid_search_clone_and_pickle():
    search = GridSearchCV(make_pipeline(StandardScaler(), lm.Ridge()), {"ridge__alpha": [0.1, 10.0, 1000.0]}, cv=3)
    search.fit(*datasets.load_diabetes(return_X_y=True))
    assert search.best_params_["ridge__alpha"] in (0.1, 10.0) and search.best_score_ > 0.4
    model = lm.LogisticRegression(C=0.3, l1_ratio=0.2).fit(*IRIS)
    twin = clone(model)
    assert twin.get_params() == model.get_params() and not hasattr(twin, "coef_")
    assert repr(twin) == "LogisticRegression(C=0.3, l1_ratio=0.2)"
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(IRIS[0]), model.predict(IRIS[0]))


# ----- the penalty, its deprecated spelling, and separable classes -----


@pytest.mark.parametrize("penalty,same", [("l2", {}), ("l1", {"l1_ratio": 1.0}), (None, {"C": np.inf}),
                                          ("elasticnet", {"l1_ratio": 0.5})])
def test_the_deprecated_penalty_means_what_scikit_learn_reads_it_as(penalty, same):
    ratio = {"l1_ratio": same.get("l1_ratio", 0.0)} if penalty != "l1" else {"l1_ratio": 1.0}
    with pytest.warns(FutureWarning, match="'penalty' was deprecated in version 1.8"):
        old = lm.LogisticRegression(penalty, C=0.5 if penalty else 1.0, **ratio).fit(X_SYN, C_SYN)
    new = lm.LogisticRegression(**dict({"C": 0.5}, **same)).fit(X_SYN, C_SYN)
    np.testing.assert_allclose(old.coef_, new.coef_, rtol=1e-8, atol=1e-8)


def test_an_inconsistent_penalty_wins_over_l1_ratio_with_a_warning():
    with pytest.warns(UserWarning, match="Inconsistent values: penalty=l2 with l1_ratio=1.0"), \
            pytest.warns(FutureWarning, match="'penalty' was deprecated"):
        old = lm.LogisticRegression("l2", l1_ratio=1.0).fit(*CANCER)
    np.testing.assert_allclose(old.coef_, lm.LogisticRegression().fit(*CANCER).coef_, rtol=1e-10)


def test_separable_classes_have_no_maximum_likelihood_estimate():
    X = np.array([[-2.0, 1.0], [-1.0, 0.5], [1.0, 0.2], [2.0, -1.0]])
    with pytest.warns(lm.PerfectSeparationWarning, match="linearly separable"):
        model = lm.LogisticRegression(C=np.inf).fit(X, [0, 0, 1, 1])
    np.testing.assert_array_equal(model.predict(X), [0, 0, 1, 1])
    with pytest.warns(lm.PerfectSeparationWarning, match="no meaningful"):
        lm.LogisticRegression(C=np.inf).fit(IRIS[0][IRIS[1] != 1], IRIS[1][IRIS[1] != 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lm.LogisticRegression(C=1.0).fit(X, [0, 0, 1, 1])  # a penalty gives a unique, finite solution


def test_the_iteration_cap_warns_convergence_warning():
    assert issubclass(lm.ConvergenceWarning, UserWarning)
    with pytest.warns(lm.ConvergenceWarning, match="max_iter=1"):
        model = lm.LogisticRegression(max_iter=1).fit(*CANCER)
    assert model.n_iter_.tolist() == [1]


# ----- the solver's Hessian, stepwise selection, the regularisation path -----


@pytest.mark.parametrize("loss,y,k", [(binary_logistic_loss, C_SYN[:40].astype(float), 1),
                                      (multinomial_loss, np.arange(40) % 3, 3)])
def test_the_assembled_hessian_is_softgrads_hessian(loss, y, k):
    problem = LinearModelProblem(X_SYN[:40, :3], y, loss, k, True, l1=0.0, l2=0.1, quadratic=False)
    theta = np.random.default_rng(1).normal(size=problem.size) * 0.3
    (_, Z), _ = sg.value_and_grad(problem.smooth, has_aux=True)(theta)
    expected = sg.hessian(lambda t: problem.smooth(t)[0])(theta).numpy()
    np.testing.assert_allclose(problem.hessian(Z.numpy()), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("ours,theirs,data", [case[1:] for case in CLASSIFICATION[:4]],
                         ids=[case[0] for case in CLASSIFICATION[:4]])
def test_a_float32_hessian_changes_the_path_not_the_solution(ours, theirs, data, monkeypatch):
    """Large problems assemble XᵀDX in float32 (GRAM_FLOAT32_WORK); forced here on the small ones, the fits still
    match scikit-learn: the gradient, whose zero is the solution, stays float64."""
    monkeypatch.setattr(_solver, "GRAM_FLOAT32_WORK", 0)
    assert_same_fit(clone(ours), clone(theirs), *data)


def test_the_lasso_of_correlated_columns_by_feature_sign_search():
    """Diabetes' s1…s4 are nearly collinear (coordinate descent creeps there): feature-sign search reaches the
    exact minimiser, whose optimality conditions hold: ∂ⱼ = −α sign(wⱼ) on the support, |∂ⱼ| ≤ α off it."""
    X, y = DIABETES
    for alpha in (0.05, 0.5, 5.0):
        model = lm.Lasso(alpha=alpha).fit(X, y)
        w, residual = model.coef_, y - model.predict(X)
        gradient = -X.T @ residual / len(y)
        support = w != 0
        np.testing.assert_allclose(gradient[support], -alpha * np.sign(w[support]), rtol=1e-8, atol=1e-10)
        assert np.all(np.abs(gradient[~support]) <= alpha * (1 + 1e-8))


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("criterion", ["aic", "bic"])
def test_stepwise_finds_the_known_support(direction, criterion):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 8))
    support = np.array([1, 0, 0, 1, 0, 1, 0, 0], bool)
    y = X @ (3.0 * support) + 1.0 + rng.normal(size=200)
    model = lm.StepwiseRegression(direction=direction, criterion=criterion).fit(X, y)
    np.testing.assert_array_equal(model.get_support(), support)
    np.testing.assert_array_equal(model.get_support(indices=True), [0, 3, 5])
    reference = sk.LinearRegression().fit(X[:, support], y)
    np.testing.assert_allclose(model.coef_[support], reference.coef_, rtol=1e-8)
    assert model.coef_[~support].tolist() == [0.0] * 5


def test_regularization_path_holds_one_row_of_coefficients_per_alpha():
    alphas = [0.01, 1.0, 10.0, 50.0]
    path = lm.regularization_path(lm.Lasso(), *DIABETES, alphas)
    assert path.shape == (4, 10)
    for alpha, row in zip(alphas, path):
        np.testing.assert_allclose(row, sk.Lasso(alpha=alpha, **TIGHT).fit(*DIABETES).coef_, rtol=0,
                                   atol=RTOL * np.abs(row).max())
    assert ((path != 0).sum(axis=1) == sorted((path != 0).sum(axis=1), reverse=True)).all()
