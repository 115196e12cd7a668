"""``softgrad explain``: the claims of the notes, run and drawn. Each topic computes the numbers that prove its
claim, prints them, and saves its figures (PNG) into an output directory.

>>> from softgrad import explain
>>> "softmax-overflow" in explain.topics()
True
>>> result = explain.run("entropy-kl", out=None)  # out=None: the numbers only, no figures
>>> abs(result.numbers["H(p,q) - H(p) - KL(p||q)"]) < 1e-12
True

Topics: ``softmax-overflow``, ``softmax-jacobian``, ``cross-entropy-gradient``, ``mse-vs-ce``, ``multi-label``,
``entropy-kl``, ``mle``, ``activations``, ``regularization``. ``run`` returns a ``Result``: the printed ``lines``, the ``numbers``
the tests assert, and the ``figures`` written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from softgrad.explain._result import Result
from softgrad.explain.activations import activations
from softgrad.explain.information import entropy_kl, mle
from softgrad.explain.losses import cross_entropy_gradient, mse_vs_ce, multi_label
from softgrad.explain.regression import regularization
from softgrad.explain.softmax import softmax_jacobian, softmax_overflow

#: topic name -> (the function that runs it, its claim in one line)
TOPICS: dict[str, tuple[Callable[[Result], None], str]] = {
    "softmax-overflow": (softmax_overflow,
                         "exp(x)/Σexp(x) overflows; exp(x − max x)/Σ… is the same function and finite"),
    "softmax-jacobian": (softmax_jacobian, "the Jacobian of softmax is diag(p) − p pᵀ"),
    "cross-entropy-gradient": (cross_entropy_gradient, "∂CE/∂logits = (p − t)/N, for class indices and probabilities"),
    "mse-vs-ce": (mse_vs_ce, "after a sigmoid, MSE learns slowly from a bad start (σ′(z)); cross-entropy does not"),
    "multi-label": (multi_label, "multi-label outputs: sigmoid + binary cross-entropy, not softmax"),
    "entropy-kl": (entropy_kl, "H(p, q) = H(p) + KL(p‖q); KL ≥ 0 and not symmetric; nats and bits"),
    "mle": (mle, "maximum likelihood is minimum cross-entropy: a coin, and logistic regression"),
    "activations": (activations, "sigmoid, tanh, ReLU, softplus, GELU and their derivatives from autodiff"),
    "regularization": (regularization, "ridge shrinks, the lasso zeroes; the logistic likelihood peaks at the fit"),
}


def topics() -> list[str]:
    """The names of the topics, in the order of the notes."""
    return list(TOPICS)


def run(topic: str, out: str | Path | None = "explain", echo: Callable[[str], None] | None = None) -> Result:
    """Run ``topic``: its numbers (``Result.numbers``), its printed lines (also passed to ``echo`` as they come),
    and its figures written into ``out`` (none when ``out`` is None)."""
    if topic not in TOPICS:
        raise ValueError(f"explain: unknown topic {topic!r}; the topics are {', '.join(TOPICS)}")
    result = Result(topic, None if out is None else Path(out), echo)
    result.say(f"== {topic}: {TOPICS[topic][1]}")
    TOPICS[topic][0](result)
    return result


__all__ = ["Result", "TOPICS", "run", "topics"]
