"""A few hypothesis properties of broadcasting and its gradients (the conformance suite does the
heavy property testing; these stay small so the core suite stays fast)."""

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import micrograd as mg

OPS = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "maximum": (mg.maximum, np.maximum),
}


def _unbroadcast(grad: np.ndarray, shape) -> np.ndarray:
    """Sum a broadcast gradient back to ``shape`` (the numpy oracle of micrograd's sum_to)."""
    while grad.ndim > len(shape):
        grad = grad.sum(0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis, keepdims=True)
    return grad


@settings(max_examples=40, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                 min_side=0, max_side=3),
       op=st.sampled_from(sorted(OPS)), seed=st.integers(0, 2 ** 16))
def test_broadcast_binary_values_and_gradients(shapes, op, seed):
    rng = np.random.default_rng(seed)
    a_host = rng.normal(size=shapes.input_shapes[0])
    b_host = rng.normal(size=shapes.input_shapes[1])
    fm, fn = OPS[op]
    a = mg.tensor(a_host, requires_grad=True)
    b = mg.tensor(b_host, requires_grad=True)
    out = fm(a, b)
    want = fn(a_host, b_host)
    assert tuple(out.shape) == want.shape == shapes.result_shape
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-12)
    upstream = rng.normal(size=want.shape)
    (out * mg.tensor(upstream)).sum().backward()
    if op == "add":
        ga, gb = upstream, upstream
    elif op == "sub":
        ga, gb = upstream, -upstream
    elif op == "mul":
        ga, gb = upstream * b_host, upstream * a_host
    else:       # continuous inputs: no ties
        ga, gb = upstream * (a_host > b_host), upstream * (b_host > a_host)
    np.testing.assert_allclose(a.grad.numpy(), _unbroadcast(ga, a_host.shape), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), _unbroadcast(gb, b_host.shape), rtol=1e-10,
                               atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4),
       data=st.data())
def test_permute_then_reshape_round_trips(shape, data):
    perm = data.draw(st.permutations(range(len(shape))))
    host = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    got = mg.tensor(host).permute(*perm).reshape(-1)
    np.testing.assert_array_equal(got.numpy(), host.transpose(perm).reshape(-1))


@st.composite
def _basic_keys(draw):
    """A shape and a key of ints, slices, None and at most one Ellipsis that fits it: items for
    some leading dims, then (with an Ellipsis between) items for some trailing dims."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5))

    def items_for(sizes):
        items = []
        for size in sizes:
            items.append(draw(st.one_of(
                st.integers(-size, size - 1),
                st.builds(slice, st.none() | st.integers(-size - 1, size + 1),
                          st.none() | st.integers(-size - 1, size + 1),
                          st.none() | st.integers(1, 3)))))
            if draw(st.integers(0, 4)) == 0:
                items.append(None)
        return items

    lead = draw(st.integers(0, len(shape)))
    items = items_for(shape[:lead])
    if draw(st.booleans()):
        trail = draw(st.integers(0, len(shape) - lead))
        items += [Ellipsis] + items_for(shape[len(shape) - trail:])
    return shape, items[0] if len(items) == 1 and draw(st.booleans()) else tuple(items)


@settings(max_examples=80, deadline=None)
@given(case=_basic_keys(), seed=st.integers(0, 2 ** 16))
def test_basic_keys_match_numpy_values_and_gradients(case, seed):
    # getitem's lean path for ints, slices, None and Ellipsis against numpy, with the gradient
    # scattered back into the indexed positions
    shape, key = case
    rng = np.random.default_rng(seed)
    host = rng.normal(size=shape)
    x = mg.tensor(host, requires_grad=True)
    y = x[key]
    want = host[key]
    assert tuple(y.shape) == want.shape
    np.testing.assert_array_equal(y.detach().numpy(), want)
    w = rng.normal(size=want.shape)
    (y * mg.tensor(w)).sum().backward()
    grad = np.zeros(shape)
    np.add.at(grad, key, w) if want.ndim else grad.__setitem__(key, w)
    np.testing.assert_array_equal(x.grad.numpy(), grad)
