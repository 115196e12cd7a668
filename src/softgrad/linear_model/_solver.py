"""The one solver behind every estimator: proximal Newton on a penalised linear model's mean loss,

    F(θ) = (1/n) Σᵢ ℓ(zᵢ, yᵢ) + ½ λ₂ ‖W‖² + λ₁ ‖W‖₁,    zᵢ = Wᵀxᵢ + b,    θ = (W, b).

The smooth part and its gradient come from ``softgrad.value_and_grad``. Its Hessian is that of a linear model,

    H = Xᵀ D X + λ₂ I,    Dᵢ = ∂²ℓ/∂zᵢ²  (a K × K block per sample for K outputs),

where D is computed by softgrad too, as the Jacobian of the gradient summed over samples (exact, as ℓ couples no
two samples; for the logistic loss Dᵢ = pᵢ(1 − pᵢ), IRLS's weights), and the product Xᵀ D X is one BLAS GEMM
(``softgrad.hessian`` of F gives the same matrix at p times the cost). Without λ₁ a step solves H d = −∇F; with
it, the step minimises the quadratic model plus λ₁‖·‖₁ by feature-sign search (exact solves on a support and
signs; coordinate descent with soft-thresholding as the fallback), so zero coefficients are exact zeros. A
backtracking line search on F guards the steps of a non-quadratic loss.
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

GRAM_FLOAT32_WORK = 10 ** 8  # n·p² from which the Hessian's Gram products run in float32


class LinearModelProblem:
    """F(θ) for data X (n, p), targets y, a loss ℓ over K outputs and the penalties λ₁, λ₂ on W (never on b).

    ``quadratic`` (least squares) means D is constant: the Hessian is computed once and no line search is needed.
    """

    def __init__(self, X, y, loss, n_outputs: int, fit_intercept: bool, l1: float, l2: float, quadratic: bool):
        self.X, self.y, self.loss, self.k = X, y, loss, n_outputs
        self.p, self.fit_intercept, self.l2, self.quadratic = X.shape[1], fit_intercept, l2, quadratic
        self.size = self.p * self.k + (self.k if fit_intercept else 0)
        # Xᵀ D X costs n·p² multiply-adds per pair of outputs: from GRAM_FLOAT32_WORK on, a non-quadratic F's runs
        # in float32 (see _weighted_gram; a quadratic F's Hessian also updates its gradient, so it stays exact)
        large = X.shape[0] * self.p ** 2 >= GRAM_FLOAT32_WORK
        self.gram_dtype = np.dtype(np.float32) if large and not quadratic else X.dtype
        self.design_columns = self.p + 1 if fit_intercept else self.p
        self._scaled = self._design = None  # buffers of A's shape, made once by _weighted_gram
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
        """H = Aᵀ D A + λ₂ I at the predictor Z, A = [X, 1] the design (X alone without an intercept), over θ's
        layout (W row-major, then b): one BLAS product per pair of outputs, which gives the intercept's rows too."""
        S, p, k, q = self.curvature(Z), self.p, self.k, self.design_columns
        G = np.empty((q, k, q, k))
        for a in range(k):
            for c in range(a, k):
                G[:, a, :, c] = self._weighted_gram(S[c, :, a], symmetric=a == c)
                G[:, c, :, a] = G[:, a, :, c].T
        H = G[:p, :, :p, :].reshape(p * k, p * k) + self.l2 * np.eye(p * k)
        if not self.fit_intercept:
            return H
        cross = G[:p, :, p, :].reshape(p * k, k)
        return np.block([[H, cross], [cross.T, G[p, :, p, :]]])

    def _weighted_gram(self, s: np.ndarray, symmetric: bool) -> np.ndarray:
        """Aᵀ diag(s) A: s·AᵀA for a constant s, (√s A)ᵀ(√s A) for s ≥ 0 (a symmetric rank-k update in BLAS), else
        Aᵀ(s A), the scaled A written into one reused buffer. In ``gram_dtype``: the Hessian only shapes the
        Newton step, whose fixed point ∇F = 0 (computed in float64) is the same; float32 halves the bytes BLAS
        streams, and a relative error ε in H slows Newton's quadratic convergence by a factor ≈ ε·cond(H)."""
        X, p = self.X, self.p
        if (s == s[0]).all() and X.dtype == self.gram_dtype:
            gram = X.T @ X
            if self.fit_intercept:
                column = X.sum(axis=0)[:, None]
                gram = np.block([[gram, column], [column.T, np.array([[len(s)]])]])
            return s[0] * gram
        if self._scaled is None:
            self._scaled = np.empty((len(s), self.design_columns), self.gram_dtype)
        scaled = self._scaled
        if symmetric and (s >= 0).all():
            root = np.sqrt(s)
            np.multiply(X, root[:, None], out=scaled[:, :p], casting="same_kind")
            scaled[:, p:] = root[:, None]
            return (scaled.T @ scaled).astype(X.dtype)
        if self._design is None:
            self._design = np.ones_like(scaled)
            self._design[:, :p] = X
        np.multiply(self._design, s[:, None], out=scaled, casting="same_kind")
        return (self._design.T @ scaled).astype(X.dtype)


# ----- the steps -----

HESSIAN_REUSE = 1e-2  # a step at most this large (relative) keeps the Hessian for the next one


def lasso_quadratic(H, c, x, l1, tol: float, max_sweeps: int) -> tuple[np.ndarray, bool]:
    """argmin_x f(x) = ½ xᵀHx + cᵀx + Σⱼ l1ⱼ|xⱼ| from x: first by feature-sign search (``_feature_sign``: exact
    solves on a guessed support and signs, a few for a small problem), and where it does not finish within its
    budget, by cyclic coordinate descent: xⱼ ← S(Hⱼⱼxⱼ − rⱼ, l1ⱼ)/Hⱼⱼ with r = Hx + c kept up to date and
    S(v, t) = sign(v)·max(|v| − t, 0) (soft-thresholding: exact zeros), until no coordinate moves more than
    tol·max|x|, then the support found polished by an exact solve (``_polish``). Returns (x, whether it converged).

    >>> lasso_quadratic(np.eye(2), np.array([-3.0, 0.5]), np.zeros(2), np.ones(2), 1e-8, 10)
    (array([2., 0.]), True)
    """
    solution = _feature_sign(H, c, x, l1, max_steps=4 * len(x) + 8)
    if solution is not None:
        return solution, True
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
            polished, optimal = _polish(H, c, l1, np.sign(x))
            return polished if optimal else x, True
    return x, False


def _objective(H, c, l1, x) -> float:
    return float(0.5 * x @ H @ x + c @ x + np.abs(x) @ l1)


def _feature_sign(H, c, x, l1, max_steps: int) -> np.ndarray | None:
    """Feature-sign search (Lee, Battle, Raina & Ng, 2006) for min f from x: keep a support and signs σ; solve
    f's quadratic on them exactly (``_polish``); if the solution keeps the signs, move there, else to the best
    point of the segment towards it where an entry reaches zero (leaving the support) — f decreases at every
    move; when no zero entry violates its optimality condition |∂ⱼ| ≤ l1ⱼ, x is the minimiser, else the worst
    one joins the support with the sign that decreases f. Each step is exact, so the zeros are exact zeros.
    None if ``max_steps`` moves do not reach the minimiser (or H is singular on a support)."""
    x = x.copy()
    signs = np.sign(x)
    signs[l1 == 0] = 1.0  # an unpenalised entry is always in the support (its sign plays no role)
    for _ in range(max_steps):
        polished, optimal = _polish(H, c, l1, signs)
        if optimal:
            return polished
        support = signs != 0
        keeps_signs = np.all(np.sign(polished[support & (l1 > 0)]) == signs[support & (l1 > 0)])
        if keeps_signs:  # the exact solve is right on its support: a zero outside it violates optimality
            x = polished
            slope = np.where(support, 0.0, np.abs(H @ x + c) - l1)
            worst = int(np.argmax(slope))
            signs[worst] = -np.sign((H @ x + c)[worst])
            continue
        d = polished - x
        with np.errstate(divide="ignore", invalid="ignore"):
            crossings = np.where(support & (l1 > 0) & (d != 0), -x / d, np.inf)
        steps = np.unique(crossings[(crossings > 0) & (crossings < 1)])
        if not steps.size:
            return None
        points = x + steps[:, None] * d
        points[crossings[None, :] == steps[:, None]] = 0.0  # the entries that reach zero there: exact zeros
        values = 0.5 * np.einsum("ti,ij,tj->t", points, H, points) + points @ c + np.abs(points) @ l1
        best = int(np.argmin(values))
        if values[best] > _objective(H, c, l1, x):
            return None
        x = points[best]
        signs = np.where(l1 == 0, 1.0, np.sign(x))
    return None


def _polish(H, c, l1, signs) -> tuple[np.ndarray, bool]:
    """The exact minimiser of f's quadratic on the support signs ≠ 0 with those signs, and whether it is f's
    minimiser: whether it keeps the signs of the penalised entries and the zeros stay optimal (|∂ⱼ| ≤ l1ⱼ off the
    support), f's optimality conditions."""
    active = signs != 0
    polished = np.zeros_like(c)
    if active.any():
        block = H[np.ix_(active, active)]
        rhs = -(c + l1 * signs)[active]
        polished[active] = np.linalg.lstsq(block, rhs, rcond=None)[0]
    slack = np.abs(H @ polished + c)[~active] <= l1[~active] * (1 + 1e-9)
    penalised = active & (l1 > 0)
    return polished, bool(np.array_equal(np.sign(polished[penalised]), signs[penalised]) and slack.all())


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
    A quadratic F's gradient after a step d is g + Hd (no pass over the data). After a step of at most
    HESSIAN_REUSE·max|θ| the Hessian is kept: D moved as little, so the next step is Newton's up to that factor
    (linear convergence at rate ≈ HESSIAN_REUSE, from where quadratic convergence has one or two steps left).
    ``stop(Z, iteration)`` may end the iterations early (it warns itself). Warns ConvergenceWarning at the cap."""
    evaluate = value_and_grad(problem.smooth, has_aux=True)
    theta, H, small_step = np.zeros(problem.size), None, False
    (smooth, Z), g = evaluate(theta)
    value, Z, g = float(smooth.item()), Z.numpy(), g.numpy()
    for iteration in range(1, max_iter + 1):
        if H is None or not (problem.quadratic or small_step):
            H = problem.hessian(Z)
        d, inner_met = newton_step(problem, theta, g, H, tol, max_iter)
        moved, scale = np.abs(d).max(), np.abs(theta + d).max()
        if inner_met and moved <= tol * scale:
            return theta + d, iteration
        small_step = moved <= HESSIAN_REUSE * scale
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
