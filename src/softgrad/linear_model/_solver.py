"""The one solver behind every estimator: proximal Newton on a penalised linear model's mean loss,

    F(θ) = (1/n) Σᵢ ℓ(zᵢ, yᵢ) + ½ λ₂ ‖W‖² + λ₁ ‖W‖₁,    zᵢ = Wᵀxᵢ + b,    θ = (W, b).

The smooth part and its gradient come from ``softgrad.value_and_grad``. Its Hessian is that of a linear model,

    H = Xᵀ D X + λ₂ I,    Dᵢ = ∂²ℓ/∂zᵢ²  (a K × K block per sample for K outputs),

where D is computed by softgrad too, as the Jacobian of the gradient summed over samples (exact, as ℓ couples no
two samples; for the logistic loss Dᵢ = pᵢ(1 − pᵢ), IRLS's weights), and the product Xᵀ D X is one BLAS GEMM
(``softgrad.hessian`` of F gives the same matrix at p times the cost). Without λ₁ a step solves H d = −∇F; with
it, the step minimises the quadratic model plus λ₁‖·‖₁ by coordinate descent with soft-thresholding, then
polishes the support it found by one exact solve, so zero coefficients are exact zeros. A backtracking line
search on F guards the steps of a non-quadratic loss.
"""

import warnings

import numpy as np

from softgrad import ops
from softgrad.autodiff import grad, jacobian, value_and_grad
from softgrad.linear_model._base import ConvergenceWarning

# ----- the losses ℓ, in the linear predictor Z (n, K), as means over samples -----


def squared_loss(Z, y):
    """½ mean (z − y)²: least squares."""
    return 0.5 * ops.mse_loss(ops.reshape(Z, y.shape), y)


def binary_logistic_loss(Z, y):
    """mean −[y log σ(z) + (1 − y) log(1 − σ(z))]: the negative log-likelihood of the Bernoulli model."""
    return ops.binary_cross_entropy_with_logits(ops.reshape(Z, y.shape), y)


def multinomial_loss(Z, y):
    """mean −log softmax(z)_y: the negative log-likelihood of the multinomial model."""
    return ops.cross_entropy(Z, y)


# ----- the problem -----


class LinearModelProblem:
    """F(θ) for data X (n, p), targets y, a loss ℓ over K outputs and the penalties λ₁, λ₂ on W (never on b).

    ``quadratic`` (least squares) means D is constant: the Hessian is computed once and no line search is needed.
    """

    def __init__(self, X, y, loss, n_outputs: int, fit_intercept: bool, l1: float, l2: float, quadratic: bool):
        self.X, self.y, self.loss, self.k = X, y, loss, n_outputs
        self.p, self.fit_intercept, self.l2, self.quadratic = X.shape[1], fit_intercept, l2, quadratic
        self.size = self.p * self.k + (self.k if fit_intercept else 0)
        self.l1 = np.zeros(self.size)
        self.l1[: self.p * self.k] = l1

    def split(self, theta):
        """θ as (W (p, K), b (K,) or None); for ndarrays and Tensors alike."""
        W = ops.reshape(theta[: self.p * self.k], (self.p, self.k))
        return W, theta[self.p * self.k:] if self.fit_intercept else None

    def smooth(self, theta):
        """(mean ℓ(Z, y) + ½ λ₂ ‖W‖², Z) with Z = XW + b, in softgrad ops (differentiated by value_and_grad; Z
        comes back as an auxiliary output, for the curvature)."""
        W, b = self.split(theta)
        Z = ops.matmul(self.X, W)
        if b is not None:
            Z = Z + b
        return self.loss(Z, self.y) + 0.5 * self.l2 * ops.sum(W * W), Z

    def curvature(self, Z: np.ndarray) -> np.ndarray:
        """S[c, i, a] = ∂²ℓ/∂z_ia ∂z_ic (with the mean's 1/n): the Jacobian of Σᵢ ∂ℓ/∂zᵢ, by softgrad."""
        loss_gradient = grad(lambda Z: self.loss(Z, self.y))
        return jacobian(lambda Z: ops.sum(loss_gradient(Z), axis=0))(Z).numpy()

    def hessian(self, Z: np.ndarray) -> np.ndarray:
        """H = Xᵀ D X + λ₂ I at the predictor Z, over θ's layout (W row-major, then b): a GEMM per pair of outputs."""
        S, X, p, k = self.curvature(Z), self.X, self.p, self.k
        ww, wb, bb = np.empty((p, k, p, k)), np.empty((p, k, k)), np.empty((k, k))
        for a in range(k):
            for c in range(a, k):
                s = S[c, :, a]
                ww[:, a, :, c] = _weighted_gram(X, s, symmetric=a == c)
                ww[:, c, :, a] = ww[:, a, :, c].T
                wb[:, a, c] = wb[:, c, a] = X.T @ s
                bb[a, c] = bb[c, a] = s.sum()
        H = ww.reshape(p * k, p * k) + self.l2 * np.eye(p * k)
        if not self.fit_intercept:
            return H
        cross = wb.reshape(p * k, k)
        return np.block([[H, cross], [cross.T, bb]])


def _weighted_gram(X: np.ndarray, s: np.ndarray, symmetric: bool) -> np.ndarray:
    """Xᵀ diag(s) X; s·XᵀX for a constant s, (√s X)ᵀ(√s X) for s ≥ 0 (both a symmetric rank-k update in BLAS)."""
    if (s == s[0]).all():
        return s[0] * (X.T @ X)
    if symmetric and (s >= 0).all():
        scaled = X * np.sqrt(s)[:, None]
        return scaled.T @ scaled
    return X.T @ (X * s[:, None])


# ----- the steps -----


def lasso_quadratic(H, c, x, l1, tol: float, max_sweeps: int) -> tuple[np.ndarray, bool]:
    """argmin_x ½ xᵀHx + cᵀx + Σⱼ l1ⱼ|xⱼ| from x, by cyclic coordinate descent: xⱼ ← S(Hⱼⱼxⱼ − rⱼ, l1ⱼ)/Hⱼⱼ with
    r = Hx + c kept up to date and S(v, t) = sign(v)·max(|v| − t, 0) (soft-thresholding: exact zeros), until no
    coordinate moves more than tol·max|x|; then the support found is polished by an exact solve. Returns (x,
    whether the sweeps met tol).

    >>> lasso_quadratic(np.eye(2), np.array([-3.0, 0.5]), np.zeros(2), np.ones(2), 1e-8, 10)
    (array([2., 0.]), True)
    """
    x, r, diagonal, thresholds = x.copy(), H @ x + c, np.diag(H).tolist(), l1.tolist()
    for _ in range(max_sweeps):
        largest = 0.0
        for j, (h, t) in enumerate(zip(diagonal, thresholds)):
            if h <= 0.0:
                continue
            v = h * x[j] - r[j]  # S(v, t) / h, in Python floats: this loop is the solver's only one per coordinate
            new = (v - t if v > t else v + t if v < -t else 0.0) / h
            if new != x[j]:
                r += (new - x[j]) * H[j]
                largest = max(largest, abs(new - x[j]))
                x[j] = new
        if largest <= tol * np.abs(x).max(initial=0.0):
            return _polish(H, c, x, l1), True
    return x, False


def _polish(H, c, x, l1) -> np.ndarray:
    """The exact minimiser on x's support and signs, if it keeps the signs of the penalised entries and the zeros
    stay optimal (|∂ⱼ| ≤ l1ⱼ off the support); else x as it is."""
    active = x != 0.0
    if not active.any():
        return x
    polished = np.zeros_like(x)
    polished[active] = np.linalg.lstsq(H[np.ix_(active, active)], -(c + l1 * np.sign(x))[active], rcond=None)[0]
    slack = np.abs(H @ polished + c)[~active] <= l1[~active] * (1 + 1e-9)
    penalised = l1 > 0
    return polished if np.array_equal(np.sign(polished[penalised]), np.sign(x[penalised])) and slack.all() else x


def newton_step(problem, theta, g, H, tol: float, max_sweeps: int) -> tuple[np.ndarray, bool]:
    """The proximal Newton step d: H d = −g without λ₁, else the L1-penalised quadratic model's minimiser − θ."""
    if not problem.l1.any():
        return -np.linalg.lstsq(H, g, rcond=None)[0], True
    target, met = lasso_quadratic(H, g - H @ theta, theta, problem.l1, tol, max_sweeps)
    return target - theta, met


def line_search(problem, evaluate, theta, d, value: float, g):
    """The first t in 1, ½, ¼, … with F(θ + t d) ≤ F(θ) + 10⁻⁴ t Δ (Armijo), Δ = gᵀd + λ₁·(|θ + d| − |θ|), and
    what ``evaluate`` gave there: (θ + t d, F, Z, ∇), so the accepted trial is the next iteration's gradient."""
    decrease = float(g @ d + problem.l1 @ (np.abs(theta + d) - np.abs(theta)))
    t = 1.0
    while True:
        candidate = theta + t * d
        (smooth, Z), gradient = evaluate(candidate)
        trial = float(smooth.item()) + float(problem.l1 @ np.abs(candidate))
        if trial <= value + 1e-4 * t * decrease + 1e-12 * abs(value) or t < 1e-10:
            return candidate, trial, Z.numpy(), gradient.numpy()
        t *= 0.5


def minimize(problem, tol: float, max_iter: int, name: str, stop=None) -> tuple[np.ndarray, int]:
    """θ minimising F from θ = 0 by proximal Newton; converged when a step moves no entry more than tol·max|θ|.
    A quadratic F's gradient after a step d is g + Hd (no pass over the data). ``stop(Z, iteration)`` may end the
    iterations early (it warns itself). Warns ConvergenceWarning at the cap."""
    evaluate = value_and_grad(problem.smooth, has_aux=True)
    theta, H = np.zeros(problem.size), None
    (smooth, Z), g = evaluate(theta)
    value, Z, g = float(smooth.item()), Z.numpy(), g.numpy()
    for iteration in range(1, max_iter + 1):
        if H is None or not problem.quadratic:
            H = problem.hessian(Z)
        d, inner_met = newton_step(problem, theta, g, H, tol, max_iter)
        if inner_met and np.abs(d).max() <= tol * np.abs(theta + d).max():
            return theta + d, iteration
        if problem.quadratic:
            theta, g = theta + d, g + H @ d
        else:
            theta, value, Z, g = line_search(problem, evaluate, theta, d, value, g)
        if stop is not None and stop(Z, iteration):
            return theta, iteration
    warnings.warn(f"{name} did not converge: max_iter={max_iter} Newton iterations (and coordinate-descent sweeps "
                  f"per iteration) ended before a step moved every coefficient less than tol={tol} relative; "
                  "raise max_iter or tol", ConvergenceWarning, stacklevel=3)
    return theta, max_iter
