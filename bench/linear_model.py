"""Fit times of softgrad.linear_model beside scikit-learn's (issue #17): the bundled data sets (standardised) and a
100 000 × 100 synthetic problem, where per-call overhead no longer dominates.

scikit-learn runs twice: at its defaults, and to the tolerance at which its coefficients match softgrad's to 1e-4
(tol=1e-10, a high max_iter; its default stops early). Each figure is the best of --rounds rounds, the three fits of
a row interleaved in each round (the machine is shared: single runs can be several times slower). ``--threads``
limits the BLAS threads of both libraries (threadpoolctl, which scikit-learn depends on): on a loaded machine a
two-thread BLAS product waits for its neighbours, so a one-thread run compares the solvers. Not a test: it prints
a Markdown table.

    .venv/bin/python bench/linear_model.py [--rounds 5] [--quick] [--threads N]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn import datasets
from sklearn import linear_model as sk
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from softgrad import linear_model as lm

TIGHT = {"tol": 1e-10, "max_iter": 100_000}


def data_sets(quick: bool) -> dict:
    """name → (X, y for regression, y for classification)."""
    sets = {}
    for name, load in [("diabetes", datasets.load_diabetes), ("breast cancer", datasets.load_breast_cancer),
                       ("iris", datasets.load_iris)]:
        X, y = load(return_X_y=True)
        sets[name] = (StandardScaler().fit_transform(X), y if name == "diabetes" else None,
                      None if name == "diabetes" else y)
    rng = np.random.default_rng(0)
    n = 20_000 if quick else 100_000
    X = rng.standard_normal((n, 100))
    w = rng.standard_normal(100) * (rng.random(100) < 0.3)
    sets[f"synthetic {n} × 100"] = (X, X @ w + rng.standard_normal(n), (X @ w + rng.logistic(size=n) > 0).astype(int))
    return sets


def cases(regression: bool):
    """(estimator, softgrad's, scikit-learn's at defaults, scikit-learn's to a tight tolerance)."""
    if regression:
        return [("LinearRegression", lm.LinearRegression(), sk.LinearRegression(), sk.LinearRegression()),
                ("Ridge(1)", lm.Ridge(1.0), sk.Ridge(1.0), sk.Ridge(1.0, tol=1e-10)),
                ("Lasso(0.05)", lm.Lasso(0.05), sk.Lasso(0.05), sk.Lasso(0.05, **TIGHT)),
                ("ElasticNet(0.05, 0.5)", lm.ElasticNet(0.05), sk.ElasticNet(0.05), sk.ElasticNet(0.05, **TIGHT))]
    return [("LogisticRegression(C=1)", lm.LogisticRegression(), sk.LogisticRegression(),
             sk.LogisticRegression(**TIGHT)),
            ("LogisticRegression(C=1, l1_ratio=1)", lm.LogisticRegression(l1_ratio=1.0),
             sk.LogisticRegression(l1_ratio=1.0, solver="saga"),
             sk.LogisticRegression(l1_ratio=1.0, solver="saga", **TIGHT))]


def seconds(estimator, X, y) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - start


def table(sets: dict, rounds: int) -> None:
    print("| data | estimator | softgrad | scikit-learn default | ratio | scikit-learn tight | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, (X, y_regression, y_classes) in sets.items():
        for regression, y in [(True, y_regression), (False, y_classes)]:
            if y is None:
                continue
            for label, *estimators in cases(regression):
                times = [[seconds(e, X, y) for e in estimators] for _ in range(rounds)]  # interleaved rounds
                ours, default, tight = np.min(times, axis=0)
                print(f"| {name} | {label} | {ours * 1e3:.1f} ms | {default * 1e3:.1f} ms | {ours / default:.2f}× "
                      f"| {tight * 1e3:.1f} ms | {ours / tight:.2f}× |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a 20 000-row synthetic problem, 2 rounds")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: the BLAS's own)")
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    with threadpool_limits(limits=args.threads, user_api="blas"):
        table(data_sets(args.quick), rounds)


if __name__ == "__main__":
    main()
