"""``micrograd.distributions`` against ``torch.distributions``: values of log_prob, entropy,
moments, cdf/icdf and kl_divergence in float64 with batched, broadcasting parameters, their
gradients through autograd, reprs and validation messages; and, since micrograd's random stream
differs from PyTorch's, draws checked by shape, by seeded sample statistics, and by
reparameterisation gradients compared with the formula applied to the very same draws."""

import math

import numpy as np
import pytest

import micrograd as mg
import micrograd.distributions as md
from oracle import assert_close

torch = pytest.importorskip("torch")
td = torch.distributions

TOL = dict(rtol=1e-7, atol=1e-9)
RNG = np.random.default_rng(0)


def host(x):
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)


def same(actual, expected, what, **tol):
    a, b = host(actual), host(expected)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch {b.shape}"
    finite = np.isfinite(b)
    assert np.array_equal(np.isnan(a), np.isnan(b)), f"{what}: nan {a} vs torch {b}"
    assert np.array_equal(a[~finite & ~np.isnan(b)], b[~finite & ~np.isnan(b)]), what
    assert_close(a[finite], b[finite], what, **(tol or TOL))


def params(*arrays):
    """The same float64 arrays as leaves in both libraries (gradients on)."""
    ours = [mg.tensor(a, dtype=mg.float64, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    return ours, theirs


def positive(*shape):
    return RNG.uniform(0.5, 3.0, shape)


def real(*shape):
    return RNG.uniform(-2.0, 2.0, shape)


def simplex(*shape):
    p = RNG.uniform(0.1, 1.0, shape)
    return p / p.sum(-1, keepdims=True)


def spd(batch, n):
    a = RNG.normal(size=batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def lower(batch, n):
    return np.linalg.cholesky(spd(batch, n))


# name -> (build(D, *params), parameter arrays, a value array in the support (it broadcasts
# against the batch (3, 2) or event), the methods torch has for it)
MOMENTS = ("mean", "variance", "stddev")
CASES = {
    "Normal": (lambda D, a, b: D.Normal(a, b), [real(3, 2), positive(2)], real(4, 1, 2),
               MOMENTS + ("mode", "entropy", "cdf", "icdf")),
    "Uniform": (lambda D, a, b: D.Uniform(a, a + b), [real(3, 2), positive(3, 2)], None,
                MOMENTS + ("entropy", "cdf", "icdf")),
    "Laplace": (lambda D, a, b: D.Laplace(a, b), [real(3, 2), positive(3, 1)], real(3, 2),
                MOMENTS + ("mode", "entropy", "cdf", "icdf")),
    "Cauchy": (lambda D, a, b: D.Cauchy(a, b), [real(3, 2), positive(3, 1)], real(3, 2),
               ("mean", "variance", "mode", "entropy", "cdf", "icdf")),
    "StudentT": (lambda D, df, a, b: D.StudentT(df, a, b), [positive(3, 2) * 3, real(3, 2),
                                                            positive(2)], real(4, 3, 2),
                 MOMENTS + ("mode", "entropy")),
    "StudentT/low df": (lambda D, df: D.StudentT(df), [np.array([0.5, 1.5, 2.5, 8.0])],
                        real(4), MOMENTS + ("mode", "entropy")),
    "Exponential": (lambda D, r: D.Exponential(r), [positive(3, 2)], positive(5, 3, 2),
                    MOMENTS + ("mode", "entropy", "cdf", "icdf")),
    "Gamma": (lambda D, c, r: D.Gamma(c, r), [positive(3, 2) + 1, positive(2)], positive(3, 2),
              MOMENTS + ("mode", "entropy")),
    "Beta": (lambda D, a, b: D.Beta(a, b), [positive(3, 2) + 1, positive(3, 2) + 1],
             RNG.uniform(0.05, 0.95, (3, 2)), MOMENTS + ("mode", "entropy")),
    "Dirichlet": (lambda D, c: D.Dirichlet(c), [positive(3, 4)], simplex(2, 3, 4),
                  MOMENTS + ("mode", "entropy")),
    "LogNormal": (lambda D, a, b: D.LogNormal(a, b), [real(3, 2), positive(3, 2)],
                  positive(3, 2), MOMENTS + ("mode", "entropy", "cdf", "icdf")),
    "Categorical/probs": (lambda D, p: D.Categorical(probs=p), [simplex(3, 4) * 2],
                          np.array([[0.0], [3.0], [1.0]]), ("entropy",)),
    "Categorical/logits": (lambda D, l: D.Categorical(logits=l), [real(3, 4)],
                           np.array([2.0, 0.0, 3.0]), ("entropy",)),
    "OneHotCategorical": (lambda D, p: D.OneHotCategorical(probs=p), [simplex(3, 4)],
                          np.eye(4)[[1, 0, 3]], ("mean", "variance", "mode", "entropy")),
    "Multinomial": (lambda D, p: D.Multinomial(4, probs=p), [simplex(3, 4) * 2],
                    np.array([[1.0, 1.0, 2.0, 0.0], [0.0, 0.0, 0.0, 4.0], [2.0, 1.0, 0.0, 1.0]]),
                    ("mean", "variance", "entropy")),
    "Multinomial/logits": (lambda D, l: D.Multinomial(3, logits=l), [real(2, 3)],
                           np.array([[3.0, 0.0, 0.0], [1.0, 1.0, 1.0]]), ("mean", "entropy")),
    "Bernoulli/probs": (lambda D, p: D.Bernoulli(probs=p), [RNG.uniform(0.1, 0.9, (3, 2))],
                        np.array([[0.0, 1.0]]), MOMENTS + ("entropy",)),
    "Bernoulli/logits": (lambda D, l: D.Bernoulli(logits=l), [real(3, 2)],
                         np.array([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]),
                         MOMENTS + ("mode", "entropy")),
    "Binomial": (lambda D, p: D.Binomial(5, probs=p), [RNG.uniform(0.1, 0.9, (3, 2))],
                 np.array([[0.0, 5.0], [2.0, 3.0], [1.0, 4.0]]),
                 MOMENTS + ("mode", "entropy")),
    "Poisson": (lambda D, r: D.Poisson(r), [positive(3, 2)], np.array([[0.0, 1.0], [4.0, 2.0],
                                                                       [7.0, 0.0]]),
                MOMENTS + ("mode",)),
    "MultivariateNormal/scale_tril": (
        lambda D, m, s: D.MultivariateNormal(m, scale_tril=s), [real(3, 3), lower((1,), 3)],
        real(2, 3, 3), MOMENTS + ("mode", "entropy")),
    "MultivariateNormal/covariance": (
        lambda D, m, c: D.MultivariateNormal(m, covariance_matrix=c), [real(3), spd((2,), 3)],
        real(2, 3), MOMENTS + ("entropy",)),
    "MultivariateNormal/precision": (
        lambda D, m, p: D.MultivariateNormal(m, precision_matrix=p), [real(2, 3), spd((), 3)],
        real(2, 3), MOMENTS + ("entropy",)),
    "Independent": (lambda D, a, b: D.Independent(D.Normal(a, b), 1), [real(3, 2), positive(2)],
                    real(3, 2), MOMENTS + ("mode", "entropy")),
    "Tanh(Normal)": (lambda D, a, b: D.TransformedDistribution(
        D.Normal(a, b), [D.transforms.TanhTransform()]), [real(3, 2), positive(3, 2)],
        RNG.uniform(-0.9, 0.9, (3, 2)), ("cdf", "icdf")),
    "Affine(Sigmoid(Normal))": (lambda D, a, b: D.TransformedDistribution(
        D.Normal(a, b), [D.transforms.SigmoidTransform(),
                         D.transforms.AffineTransform(1.0, a.detach() * 0 + 3.0)]),
        [real(3, 2), positive(3, 2)], RNG.uniform(1.1, 3.9, (3, 2)), ("cdf", "icdf")),
    "Affine(-2)(Exp(Laplace))": (lambda D, a, b: D.TransformedDistribution(
        D.Laplace(a, b), [D.transforms.ExpTransform(), D.transforms.AffineTransform(0.5, -2.0)]),
        [real(3, 2), positive(3, 2)], RNG.uniform(-9.0, 0.4, (3, 2)), ("cdf", "icdf")),
    "MixtureSameFamily/Normal": (lambda D, w, a, b: D.MixtureSameFamily(
        D.Categorical(probs=w), D.Normal(a, b)), [simplex(3, 2), real(3, 2), positive(3, 2)],
        real(4, 3), MOMENTS + ("cdf",)),
    "MixtureSameFamily/Independent": (lambda D, w, a, b: D.MixtureSameFamily(
        D.Categorical(logits=w), D.Independent(D.Normal(a, b), 1)),
        [real(2), real(2, 3), positive(2, 3)], real(5, 3), MOMENTS),
}


def build(name):
    make, arrays, value, methods = CASES[name]
    ours, theirs = params(*arrays)
    if name == "Uniform":
        value = host(theirs[0]) + host(theirs[1]) * RNG.uniform(0, 1, (3, 2))
    return make(md, *ours), make(td, *theirs), ours, theirs, value, methods


def compare_grads(ours, theirs, what):
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if b.grad is None:
            assert a.grad is None or not np.any(host(a.grad)), f"{what}: grad of param {i}"
            continue
        assert a.grad is not None, f"{what}: no grad for param {i}"
        same(a.grad, b.grad, f"{what} grad of param {i}", rtol=1e-6, atol=1e-8)


def weighted_sum(out, seed=1):
    """A seeded upstream gradient (the same numbers for both libraries)."""
    weights = np.random.default_rng(seed).uniform(0.5, 1.5, tuple(out.shape))
    if isinstance(out, mg.Tensor):
        return (out * mg.tensor(weights, dtype=mg.float64)).sum()
    return (out * torch.tensor(weights, dtype=torch.float64)).sum()


@pytest.mark.parametrize("name", CASES)
def test_shapes_and_repr(name):
    ours, theirs, *_ = build(name)
    assert tuple(ours.batch_shape) == tuple(theirs.batch_shape)
    assert tuple(ours.event_shape) == tuple(theirs.event_shape)
    assert ours.has_rsample == theirs.has_rsample
    assert repr(ours) == repr(theirs).replace("torch.", "micrograd.")
    assert repr(ours.support) == repr(theirs.support).replace("torch.", "micrograd.")
    drawn = ours.sample((3, 2))
    assert tuple(drawn.shape) == (3, 2) + tuple(theirs.batch_shape) + tuple(theirs.event_shape)
    assert tuple(ours.sample().shape) == tuple(theirs.sample().shape)
    assert not drawn.requires_grad
    expanded = ours.expand((5,) + tuple(ours.batch_shape))
    assert tuple(expanded.batch_shape) == (5,) + tuple(ours.batch_shape)
    assert tuple(expanded.sample().shape) == tuple(theirs.expand(
        (5,) + tuple(theirs.batch_shape)).sample().shape)


@pytest.mark.parametrize("name", CASES)
def test_log_prob_values_and_gradients(name):
    ours, theirs, mine, torchs, value, _ = build(name)
    a = ours.log_prob(mg.tensor(value, dtype=mg.float64))
    b = theirs.log_prob(torch.tensor(value, dtype=torch.float64))
    same(a, b, f"{name}.log_prob")
    weighted_sum(a).backward()
    weighted_sum(b).backward()
    compare_grads(mine, torchs, f"{name}.log_prob")


@pytest.mark.parametrize("name", CASES)
def test_moments_entropy_cdf(name):
    *_, methods = CASES[name]
    for method in methods:
        ours, theirs, mine, torchs, value, _ = build(name)
        if method in ("cdf", "icdf"):
            arg = RNG.uniform(0.05, 0.95, (3, 2)) if method == "icdf" else value
            a = getattr(ours, method)(mg.tensor(arg, dtype=mg.float64))
            b = getattr(theirs, method)(torch.tensor(arg, dtype=torch.float64))
        elif method == "entropy":
            a, b = ours.entropy(), theirs.entropy()
        else:
            a, b = getattr(ours, method), getattr(theirs, method)
        same(a, b, f"{name}.{method}")
        if b.requires_grad:
            weighted_sum(a).backward()
            weighted_sum(b).backward()
            compare_grads(mine, torchs, f"{name}.{method}")


# ------------------------------------------------------------------ sample statistics

STATISTICS = ["Normal", "Uniform", "Laplace", "Exponential", "Gamma", "Beta", "Dirichlet",
              "Categorical/probs", "OneHotCategorical", "Multinomial", "Bernoulli/logits",
              "Binomial",
              "Poisson", "MultivariateNormal/covariance", "Independent",
              "MixtureSameFamily/Normal", "MixtureSameFamily/Independent"]


@pytest.mark.parametrize("name", STATISTICS)
def test_sample_statistics(name):
    mg.manual_seed(7)
    ours, theirs, *_ = build(name)
    draws = host(ours.sample((40000,)))
    assert np.all(host(theirs.support.check(torch.tensor(draws))))
    if name.startswith("Categorical"):
        counts = np.stack([(draws == k).mean(0) for k in range(4)], -1)
        assert_close(counts, host(theirs.probs), name, rtol=0, atol=0.015)
        return
    assert_close(draws.mean(0), host(theirs.mean), f"{name} mean", rtol=0.03, atol=0.03)
    assert_close(draws.var(0), host(theirs.variance), f"{name} variance", rtol=0.05, atol=0.03)
    if name.startswith("MultivariateNormal"):
        centred = draws - draws.mean(0)
        covariance = np.einsum("sbi,sbj->bij", centred, centred) / len(draws)
        assert_close(covariance, host(theirs.covariance_matrix), name, rtol=0.05, atol=0.08)


def test_student_t_draws_have_its_moments_and_reparameterised_gradients():
    # df well above 4, so the sample variance settles; the gradient of a draw in loc is 1 and
    # in scale the standardised draw itself
    mg.manual_seed(8)
    df, loc = mg.tensor([6.0, 9.0], requires_grad=True), mg.tensor([1.0, -2.0], requires_grad=True)
    scale = mg.tensor([0.5, 2.0], requires_grad=True)
    ours = mg.distributions.StudentT(df, loc, scale)
    theirs = torch.distributions.StudentT(torch.tensor([6.0, 9.0]), torch.tensor([1.0, -2.0]),
                                          torch.tensor([0.5, 2.0]))
    draws = ours.rsample((60000,))
    assert_close(host(draws).mean(0), host(theirs.mean), "mean", rtol=0.02, atol=0.02)
    assert_close(host(draws).var(0), host(theirs.variance), "variance", rtol=0.06, atol=0.02)
    draws.sum().backward()
    assert_close(host(loc.grad), np.full(2, 60000.0), "d/dloc", **TOL)
    standard = (host(draws.detach()) - host(loc.detach())) / host(scale.detach())
    assert_close(host(scale.grad), standard.sum(0), "d/dscale", rtol=1e-6, atol=1e-3)
    assert np.all(np.isfinite(host(df.grad)))


def test_torch_module_paths():
    from micrograd.distributions.categorical import Categorical
    from micrograd.distributions.normal import Normal
    from micrograd.distributions.transformed_distribution import TransformedDistribution
    assert (Categorical, Normal, TransformedDistribution) == (
        md.Categorical, md.Normal, md.TransformedDistribution)
    assert mg.distributions.kl.kl_divergence is md.kl_divergence
    assert md.independent.Independent is md.Independent
    from micrograd.distributions.studentT import StudentT
    assert (StudentT, md.cauchy.Cauchy) == (md.StudentT, md.Cauchy)
    assert {"Cauchy", "StudentT", "Multinomial"} <= set(md.__all__)
    assert md.multinomial.Multinomial is md.Multinomial


def test_default_float32_policy():
    """A float32 policy, as programs build them: draws are int64, log-probabilities float32."""
    logits = mg.randn(2, 3, requires_grad=True)
    m = md.Categorical(logits=logits)
    action = m.sample()
    assert action.dtype == mg.int64 and tuple(action.shape) == (2,)
    assert m.log_prob(action).dtype == mg.float32
    gauss = md.Normal(mg.zeros(2), 1.0)
    assert gauss.sample().dtype == mg.float32 and gauss.entropy().dtype == mg.float32


def test_seeded_draws_repeat():
    m = md.Normal(mg.zeros(3), 1.0)
    mg.manual_seed(3)
    first = host(m.sample((2,)))
    mg.manual_seed(3)
    assert np.array_equal(first, host(m.sample((2,))))


# ------------------------------------------------------------------ reparameterisation

@pytest.mark.parametrize("name, standard", [
    ("Normal", lambda d, x: (x - d.loc) / d.scale),
    ("Laplace", lambda d, x: (x - d.loc) / d.scale),
    ("Uniform", lambda d, x: (x - d.low) / (d.high - d.low)),
])
def test_rsample_gradients_use_the_drawn_noise(name, standard):
    """x = loc + scale * eps: d sum(x) / d loc = number of draws per element, and
    d sum(x) / d scale = the sum of the very eps drawn (recovered from the draws)."""
    (ours, _, (a, b), _, _, _) = build(name)
    mg.manual_seed(11)
    x = ours.rsample((6,))
    x.sum().backward()
    eps = host(standard(ours, x.detach()))
    if name == "Uniform":          # x = low + u (high - low), built as Uniform(a, a + b)
        assert_close(host(a.grad), np.full(a.shape, 6.0), "d/dlow", **TOL)
        assert_close(host(b.grad), eps.sum(0), "d/dwidth", **TOL)
        return
    assert_close(host(a.grad), np.full(a.shape, 6.0), "d/dloc", **TOL)
    assert_close(host(b.grad), summed_to(eps, b.shape), "d/dscale", **TOL)


def summed_to(values, shape):
    """``values`` summed over the dims a parameter of ``shape`` was broadcast along."""
    values = values.sum(tuple(range(values.ndim - len(shape))))
    return values.sum(tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)


def test_exponential_and_mvn_rsample_gradients():
    rate = mg.tensor([0.5, 2.0], dtype=mg.float64, requires_grad=True)
    x = md.Exponential(rate).rsample((5,))
    x.sum().backward()
    assert_close(host(rate.grad), -(host(x) * host(rate)).sum(0) / host(rate) ** 2 * 1.0,
                 "d/drate", **TOL)
    loc = mg.tensor([1.0, -1.0], dtype=mg.float64, requires_grad=True)
    tril = mg.tensor(lower((), 2), dtype=mg.float64, requires_grad=True)
    y = md.MultivariateNormal(loc, scale_tril=tril).rsample((4,))
    y.sum().backward()
    assert_close(host(loc.grad), [4.0, 4.0], "d/dloc", **TOL)
    eps = np.linalg.solve(host(tril), (host(y) - host(loc)).T).T      # the noise drawn
    # torch's rsample multiplies by the whole matrix, so its upper entries get gradients too.
    assert_close(host(tril.grad), np.ones((2, 1)) * eps.sum(0), "d/dscale_tril",
                 rtol=1e-7, atol=1e-7)


def test_tanh_transform_cache_returns_the_pre_image():
    """SAC's squashed Gaussian: far from 0, tanh rounds to exactly 1, where atanh is infinite;
    the cached pre-image keeps log_prob finite and equal to torch's (fed the same draw)."""
    loc = mg.tensor([20.0, 0.3], dtype=mg.float64)
    squash = md.TransformedDistribution(md.Normal(loc, 1.0), [md.TanhTransform(cache_size=1)])
    mg.manual_seed(5)
    a = squash.rsample()
    assert host(a)[0] == 1.0
    mg.manual_seed(5)
    x = torch.tensor(host(md.Normal(loc, 1.0).rsample()))
    theirs = td.TransformedDistribution(td.Normal(torch.tensor(host(loc)), 1.0),
                                        [td.transforms.TanhTransform(cache_size=1)])
    expected = theirs.log_prob(theirs.transforms[0](x))
    assert np.all(np.isfinite(host(expected)))
    same(squash.log_prob(a), expected, "log_prob through the cache")
    uncached = md.TransformedDistribution(md.Normal(loc, 1.0), [md.TanhTransform()])
    assert math.isinf(host(uncached.log_prob(a))[0]) or math.isnan(host(uncached.log_prob(a))[0])


@pytest.mark.parametrize("alpha", [0.05, 0.7, 1.0, 3.0, 40.0, 900.0])
def test_gamma_draw_slope_is_the_implicit_gradient(alpha):
    """dx/dalpha of Gamma(alpha, 1) draws: against torch's own approximation (which is good to
    about 1e-3) and, where scipy is installed, against the derivative of the quantile function
    at the draw's fixed quantile (good to about 1e-8)."""
    from micrograd.distributions.implicit_gamma import draw_slope
    a = np.full(400, alpha)
    x = np.maximum(np.random.default_rng(2).standard_gamma(a), 1e-300)
    slope = draw_slope(a, x, host(torch.digamma(torch.tensor(a))))
    theirs = host(torch._standard_gamma_grad(torch.tensor(a), torch.tensor(x)))
    assert_close(slope, theirs, "vs torch", rtol=2e-3, atol=1e-12)
    scipy_special = pytest.importorskip("scipy.special")
    u = scipy_special.gammainc(a, x)
    inside = (u > 1e-10) & (u < 1 - 1e-10)
    h = 1e-6 * alpha
    quantile = scipy_special.gammaincinv
    reference = (quantile(a + h, u) - quantile(a - h, u)) / (2 * h)
    assert_close(slope[inside], reference[inside], "vs the quantile's derivative", rtol=1e-6,
                 atol=1e-12)


def test_gamma_rsample_gradients():
    concentration = mg.tensor([0.4, 2.0, 15.0], dtype=mg.float64, requires_grad=True)
    rate = mg.tensor([1.5, 0.5, 2.0], dtype=mg.float64, requires_grad=True)
    mg.manual_seed(4)
    x = md.Gamma(concentration, rate).rsample((50,))
    x.sum().backward()
    standard = torch.tensor(host(x) * host(rate))                # the unit-rate draws
    slope = host(torch._standard_gamma_grad(torch.tensor(host(concentration)).expand(50, 3),
                                            standard))
    assert_close(host(concentration.grad), (slope / host(rate)).sum(0), "d/dconcentration",
                 rtol=2e-3, atol=1e-9)
    assert_close(host(rate.grad), -(host(x) / host(rate)).sum(0), "d/drate", **TOL)
    mg.manual_seed(4)
    with mg.no_grad():
        assert np.array_equal(host(md.Gamma(concentration, rate).sample((50,))), host(x))


@pytest.mark.parametrize("name", ["Gamma", "Beta", "Dirichlet"])
def test_gamma_families_rsample_gradient_of_the_mean(name):
    """Averaged over many draws, the pathwise gradient of the draws is the gradient of the
    mean (torch's per-draw numbers differ for Beta and Dirichlet; their expectation does not)."""
    ours, theirs, mine, torchs, _, _ = build(name)
    mg.manual_seed(9)
    weighted_sum(ours.rsample((20000,)).mean(0)).backward()
    weighted_sum(theirs.mean).backward()
    for a, b in zip(mine, torchs):
        assert_close(host(a.grad), host(b.grad), f"{name} d mean", rtol=0.05, atol=0.01)


# ------------------------------------------------------------------ KL divergence

KL_TRIL, KL_COVARIANCE = lower((), 3), spd((), 3)      # drawn once: both libraries see them
KL_PAIRS = {
    "Normal": lambda D, a, b: (D.Normal(a, b), D.Normal(b, a.abs() + 0.5)),
    "Categorical": lambda D, a, b: (D.Categorical(logits=a), D.Categorical(probs=b.abs())),
    "OneHotCategorical": lambda D, a, b: (D.OneHotCategorical(logits=a),
                                          D.OneHotCategorical(logits=b)),
    "Bernoulli": lambda D, a, b: (D.Bernoulli(logits=a), D.Bernoulli(probs=b.sigmoid())),
    "Independent": lambda D, a, b: (D.Independent(D.Normal(a, b.abs() + 0.1), 1),
                                    D.Independent(D.Normal(b, a.abs() + 0.1), 1)),
    "Beta": lambda D, a, b: (D.Beta(a.abs() + 0.5, b.abs() + 1), D.Beta(b.abs() + 2, a.abs())),
    "Gamma": lambda D, a, b: (D.Gamma(a.abs() + 0.5, b.abs() + 1), D.Gamma(b.abs(), a.abs())),
    "Dirichlet": lambda D, a, b: (D.Dirichlet(a.abs() + 0.1), D.Dirichlet(b.abs() + 0.2)),
    "Uniform": lambda D, a, b: (D.Uniform(a, a + b.abs()), D.Uniform(a - 1, a + b.abs() + 1)),
    "Uniform/outside": lambda D, a, b: (D.Uniform(a - 1, a + b.abs()), D.Uniform(a, a + 5)),
    "Exponential": lambda D, a, b: (D.Exponential(a.abs()), D.Exponential(b.abs())),
    "Laplace": lambda D, a, b: (D.Laplace(a, b.abs()), D.Laplace(b, a.abs())),
    "Poisson": lambda D, a, b: (D.Poisson(a.abs()), D.Poisson(b.abs())),
    "MultivariateNormal": lambda D, a, b: (
        D.MultivariateNormal(a[..., :3], scale_tril=(b[..., None, :3] * 0.1
                                                     + a.new_tensor(KL_TRIL)).tril()),
        D.MultivariateNormal(b[..., :3], covariance_matrix=a.new_tensor(KL_COVARIANCE))),
}


@pytest.mark.parametrize("name", KL_PAIRS)
def test_kl_divergence_values_and_gradients(name):
    arrays = [RNG.uniform(0.3, 2.0, (3, 4)), RNG.uniform(0.3, 2.0, (3, 4))]
    if name == "MultivariateNormal":
        arrays = [RNG.uniform(-1, 1, (3, 4)), RNG.uniform(-1, 1, (3, 4))]
    mine, torchs = params(*arrays)
    a = md.kl_divergence(*KL_PAIRS[name](md, *mine))
    b = td.kl_divergence(*KL_PAIRS[name](td, *torchs))
    same(a, b, f"KL {name}")
    if np.all(np.isfinite(host(b))):
        weighted_sum(a).backward()
        weighted_sum(b).backward()
        compare_grads(mine, torchs, f"KL {name}")


def test_kl_infinities_and_unregistered_pairs():
    p = md.Categorical(probs=mg.tensor([0.5, 0.5, 0.0]))
    q = md.Categorical(probs=mg.tensor([1.0, 0.0, 0.0]))
    assert math.isinf(md.kl_divergence(p, q).item())
    assert md.kl_divergence(q, p).item() == pytest.approx(math.log(2))
    with pytest.raises(NotImplementedError, match="No KL"):
        md.kl_divergence(p, md.Normal(0.0, 1.0))

    class Narrow(md.Normal):
        pass

    @md.register_kl(Narrow, md.Normal)
    def _kl(p, q):
        return mg.tensor(-1.0)

    assert md.kl_divergence(Narrow(0.0, 1.0), md.Normal(0.0, 1.0)).item() == -1.0
    assert md.kl_divergence(md.Normal(0.0, 1.0), Narrow(0.0, 1.0)).item() == 0.0


# ------------------------------------------------------------------ validation

def message(fn):
    with pytest.raises(ValueError) as caught:
        fn()
    return str(caught.value)


@pytest.mark.parametrize("case", [
    lambda D, T: D.Normal(T([0.0]), T([-1.0])),
    lambda D, T: D.Categorical(probs=T([0.5, -0.1])),
    lambda D, T: D.Bernoulli(probs=T([1.5])),
    lambda D, T: D.Gamma(T([1.0]), T([0.0])),
    lambda D, T: D.Bernoulli(probs=T([0.3])).log_prob(T([0.5])),
    lambda D, T: D.Exponential(T([1.0])).log_prob(T([-1.0])),
    lambda D, T: D.Normal(T([0.0, 1.0, 2.0]), 1.0).log_prob(T([0.0, 1.0])),
    lambda D, T: D.Dirichlet(T([1.0, 2.0])).log_prob(T([0.5, 0.5, 0.0])),
    lambda D, T: D.Categorical(logits=T([0.0, 1.0])).log_prob(T([2.0])),
    lambda D, T: D.Normal(0.0, 1.0).log_prob(1.0),
    lambda D, T: D.Bernoulli(probs=T([0.3]), logits=T([0.0])),
    lambda D, T: D.MultivariateNormal(T([0.0, 0.0]), T([[1.0, 2.0], [2.0, 1.0]])),
    lambda D, T: D.MixtureSameFamily(D.Categorical(T([0.5, 0.5])), D.Normal(T([0.0]), 1.0)),
    lambda D, T: D.MixtureSameFamily(D.Categorical(T([1.0])), D.Exponential(T([1.0]))).log_prob(
        T([-1.0])),
])
def test_validation_errors_match_torch(case):
    ours = message(lambda: case(md, mg.tensor))
    theirs = message(lambda: case(td, torch.tensor))
    assert ours.splitlines()[0] == theirs.splitlines()[0].replace("torch.", "micrograd.")


def test_validation_can_be_switched_off():
    assert md.Normal(0.0, -1.0, validate_args=False).scale.item() == -1.0
    md.Distribution.set_default_validate_args(False)
    try:
        assert md.Bernoulli(probs=mg.tensor(0.3)).log_prob(mg.tensor(0.5)).shape == ()
    finally:
        md.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        md.Bernoulli(probs=mg.tensor(0.3)).log_prob(mg.tensor(0.5))


def test_categorical_parameters_and_support():
    logits = mg.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, -math.inf]], dtype=mg.float64)
    t_logits = torch.tensor(host(logits))
    ours, theirs = md.Categorical(logits=logits), td.Categorical(logits=t_logits)
    same(ours.probs, theirs.probs, "probs")
    same(ours.logits, theirs.logits, "logits")
    same(ours.entropy(), theirs.entropy(), "entropy with a zero probability")
    assert tuple(ours.param_shape) == tuple(theirs.param_shape)
    same(ours.enumerate_support(), theirs.enumerate_support(), "enumerate_support")
    same(ours.enumerate_support(False), theirs.enumerate_support(False), "unexpanded")
    same(ours.mode, theirs.mode, "mode")
    from_probs = md.Categorical(probs=mg.tensor([1.0, 3.0], dtype=mg.float64))
    same(from_probs.logits, td.Categorical(probs=torch.tensor([1.0, 3.0],
                                                              dtype=torch.float64)).logits,
         "logits from probs")
    b = md.Bernoulli(probs=mg.tensor([0.0, 0.5, 1.0], dtype=mg.float64))
    tb = td.Bernoulli(probs=torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    same(b.logits, tb.logits, "bernoulli logits clamped")
    same(b.mode, tb.mode, "bernoulli mode")
    same(b.enumerate_support(), tb.enumerate_support(), "bernoulli support")


# ------------------------------------------------------------------ programs

def test_reinforce_end_to_end():
    """pytorch/examples' REINFORCE step: sample an action, weight its log-probability by the
    return, backpropagate into the policy's parameters."""
    mg.manual_seed(0)
    policy = mg.nn.Linear(4, 2).double()
    state = mg.tensor([[0.1, -0.2, 0.3, 0.05]], dtype=mg.float64)
    probs = mg.nn.functional.softmax(policy(state), dim=1)
    m = md.Categorical(probs)
    action = m.sample()
    assert action.dtype == mg.int64 and action.shape == (1,)
    loss = (-m.log_prob(action) * 2.5).sum()
    loss.backward()

    t_policy = torch.nn.Linear(4, 2).double()
    with torch.no_grad():
        t_policy.weight.copy_(torch.tensor(host(policy.weight)))
        t_policy.bias.copy_(torch.tensor(host(policy.bias)))
    t_m = td.Categorical(torch.softmax(t_policy(torch.tensor(host(state))), dim=1))
    (-t_m.log_prob(torch.tensor(host(action))) * 2.5).sum().backward()
    same(policy.weight.grad, t_policy.weight.grad, "policy weight grad", rtol=1e-6, atol=1e-9)
    same(policy.bias.grad, t_policy.bias.grad, "policy bias grad", rtol=1e-6, atol=1e-9)


def test_vae_reparameterised_kl_step():
    mu = mg.tensor([[0.5, -0.3]], dtype=mg.float64, requires_grad=True)
    log_std = mg.tensor([[0.1, -0.2]], dtype=mg.float64, requires_grad=True)
    q = md.Normal(mu, log_std.exp())
    p = md.Normal(mg.zeros_like(mu), mg.ones_like(mu))
    z = q.rsample()
    loss = (z.square().sum() + md.kl_divergence(q, p).sum())
    loss.backward()
    assert mu.grad is not None and log_std.grad is not None
    assert np.all(np.isfinite(host(mu.grad)))
