"""``kl_divergence(p, q)``: KL(p || q) from a registry of closed forms, one per pair of
distribution types, extended with ``register_kl``.

>>> kl_divergence(Normal(0.0, 1.0), Normal(1.0, 2.0))
tensor(0.4431)
"""

from __future__ import annotations

import math

from ..ops.activation import softplus
from ..ops.where import where
from .continuous import Beta, Dirichlet, Exponential, Gamma, Laplace, Normal, Uniform
from .discrete import Bernoulli, Categorical, OneHotCategorical, Poisson
from .multivariate_normal import MultivariateNormal, _mahalanobis, solve_lower
from .transforms import Independent, sum_rightmost

__all__ = ["kl_divergence", "register_kl"]

_KL_REGISTRY: dict[tuple[type, type], object] = {}


def register_kl(type_p: type, type_q: type):
    """Declare the function computing KL(p || q) for ``p`` of ``type_p`` and ``q`` of
    ``type_q`` (subclasses included, the most specific registration winning).

    >>> @register_kl(MyNormal, MyNormal)
    ... def kl_mynormal(p, q): ...
    """
    def declare(fn):
        _KL_REGISTRY[type_p, type_q] = fn
        return fn
    return declare


def kl_divergence(p, q):
    """KL(p || q), elementwise over the batch; ``NotImplementedError`` for a pair with no
    registered closed form."""
    p_mro, q_mro = type(p).__mro__, type(q).__mro__
    matches = [(p_mro.index(tp), q_mro.index(tq), fn) for (tp, tq), fn in _KL_REGISTRY.items()
               if isinstance(p, tp) and isinstance(q, tq)]
    if not matches:
        raise NotImplementedError(f"No KL(p || q) is implemented for p type "
                                  f"{type(p).__name__} and q type {type(q).__name__}")
    return min(matches, key=lambda match: match[:2])[2](p, q)


def _inf_where(condition, value):
    return where(condition, math.inf, value)


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    var_ratio = (p.scale / q.scale).square()
    shift = ((p.loc - q.loc) / q.scale).square()
    return 0.5 * (var_ratio + shift - 1 - var_ratio.log())


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p, q):
    # q's zero probabilities make the divergence infinite unless p is zero there too (0 log 0).
    terms = p.probs * (p.logits - q.logits)
    terms = _inf_where(q.probs == 0, terms)
    terms = where(p.probs == 0, 0.0, terms)
    return terms.sum(-1)


@register_kl(OneHotCategorical, OneHotCategorical)
def _kl_onehot_onehot(p, q):
    return _kl_categorical_categorical(p._categorical, q._categorical)


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p, q):
    ones = p.probs * (softplus(-q.logits) - softplus(-p.logits))
    ones = where(p.probs == 0, 0.0, _inf_where(q.probs == 0, ones))
    zeros = (1 - p.probs) * (softplus(q.logits) - softplus(p.logits))
    zeros = where(p.probs == 1, 0.0, _inf_where(q.probs == 1, zeros))
    return ones + zeros


@register_kl(Beta, Beta)
def _kl_beta_beta(p, q):
    p_total = p.concentration1 + p.concentration0
    q_total = q.concentration1 + q.concentration0
    return (q.concentration1.lgamma() + q.concentration0.lgamma() + p_total.lgamma()
            - p.concentration1.lgamma() - p.concentration0.lgamma() - q_total.lgamma()
            + (p.concentration1 - q.concentration1) * p.concentration1.digamma()
            + (p.concentration0 - q.concentration0) * p.concentration0.digamma()
            + (q_total - p_total) * p_total.digamma())


@register_kl(Dirichlet, Dirichlet)
def _kl_dirichlet_dirichlet(p, q):
    p_total = p.concentration.sum(-1)
    q_total = q.concentration.sum(-1)
    excess = (p.concentration - q.concentration) \
        * (p.concentration.digamma() - p_total.digamma().unsqueeze(-1))
    return p_total.lgamma() - q_total.lgamma() \
        - (p.concentration.lgamma() - q.concentration.lgamma()).sum(-1) + excess.sum(-1)


@register_kl(Gamma, Gamma)
def _kl_gamma_gamma(p, q):
    return (q.concentration * (p.rate / q.rate).log()
            + q.concentration.lgamma() - p.concentration.lgamma()
            + (p.concentration - q.concentration) * p.concentration.digamma()
            + (q.rate - p.rate) * (p.concentration / p.rate))


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p, q):
    # Infinite wherever p puts mass outside q's interval.
    ratio = ((q.high - q.low) / (p.high - p.low)).log()
    return _inf_where((q.low > p.low) | (q.high < p.high), ratio)


@register_kl(Exponential, Exponential)
def _kl_exponential_exponential(p, q):
    ratio = q.rate / p.rate
    return -ratio.log() + ratio - 1


@register_kl(Laplace, Laplace)
def _kl_laplace_laplace(p, q):
    scale_ratio = p.scale / q.scale
    distance = (p.loc - q.loc).abs()
    return -scale_ratio.log() + distance / q.scale + scale_ratio * (-distance / p.scale).exp() - 1


@register_kl(Poisson, Poisson)
def _kl_poisson_poisson(p, q):
    return p.rate * (p.rate.log() - q.rate.log()) - (p.rate - q.rate)


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn_mvn(p, q):
    if p.event_shape != q.event_shape:
        raise ValueError("KL-divergence between two Multivariate Normals with different event "
                         "shapes cannot be computed")
    n = p.event_shape[0]
    log_det_ratio = q._half_log_det() - p._half_log_det()
    # tr(Sigma_q^-1 Sigma_p) = || L_q^-1 L_p ||_F^2
    p_lower, q_lower = p._unbroadcasted_scale_tril, q._unbroadcasted_scale_tril
    shape = tuple(p.batch_shape) + (n, n)
    trace = solve_lower(q_lower.expand(shape), p_lower.expand(shape)).square().sum((-2, -1))
    distance = _mahalanobis(q_lower, q.loc - p.loc)
    return log_det_ratio + 0.5 * (trace + distance - n)


@register_kl(Independent, Independent)
def _kl_independent_independent(p, q):
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError("KL between Independents with different "
                                  "reinterpreted_batch_ndims is not implemented")
    return sum_rightmost(kl_divergence(p.base_dist, q.base_dist), p.reinterpreted_batch_ndims)
