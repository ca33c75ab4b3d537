"""Module registration, traversal, modes, hooks, state dicts, device/dtype moves, default inits
and repr."""

from __future__ import annotations

import math

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.head = nn.Linear(4, 3)
        self.scale = nn.Parameter(mg.ones(1))
        self.register_buffer("steps", mg.zeros(1))
        self.register_buffer("cache", mg.zeros(2), persistent=False)
        self.plain = 5

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3))) * self.scale


def test_registration_and_traversal():
    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert names == ["scale", "features.0.weight", "features.0.bias", "features.1.weight",
                     "features.1.bias", "head.weight", "head.bias"]
    assert [n for n, _ in net.named_buffers()] == [
        "steps", "cache", "features.1.running_mean", "features.1.running_var",
        "features.1.num_batches_tracked"]
    assert list(net.state_dict()) == [
        "scale", "steps", "features.0.weight", "features.0.bias", "features.1.weight",
        "features.1.bias", "features.1.running_mean", "features.1.running_var",
        "features.1.num_batches_tracked", "head.weight", "head.bias"]
    assert [n for n, _ in net.named_children()] == ["features", "head"]
    assert len(list(net.modules())) == 6
    assert net.get_submodule("features.1") is net.features[1]
    assert net.get_parameter("head.bias") is net.head.bias
    assert net.plain == 5 and "plain" not in dict(net.named_parameters())
    # A shared module's parameters are yielded once.
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, shared)
    assert len(list(seq.parameters())) == 2
    del net.scale
    assert "scale" not in dict(net.named_parameters())


def test_assigning_a_plain_tensor_to_a_parameter_slot_raises():
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="nn.Parameter"):
        lin.weight = mg.ones(2, 2)
    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        class Broken(nn.Module):
            def __init__(self):
                self.x = nn.Linear(1, 1)
        Broken()


def test_train_eval_zero_grad_apply_requires_grad():
    net = Net()
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net(mg.randn(2, 1, 5, 5)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen[0] == "Conv2d"
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_forward_hooks_can_replace_input_and_output():
    lin = nn.Linear(3, 3)
    handle = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    out_handle = lin.register_forward_hook(lambda m, args, out: out + 1)
    y = lin(mg.ones(1, 3))
    np.testing.assert_allclose(y.detach().cpu().numpy(), (lin.bias.detach() + 1).cpu().numpy()[None])
    handle.remove()
    out_handle.remove()
    assert not lin._forward_hooks and not lin._forward_pre_hooks


def test_state_dict_round_trip_and_strictness():
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(v.cpu().numpy(), w.cpu().numpy(), err_msg=k)
    sd = a.state_dict()
    sd.pop("head.bias")
    sd["extra"] = mg.ones(1)
    with pytest.raises(RuntimeError, match="Missing key.*head.bias") as info:
        b.load_state_dict(sd)
    assert "Unexpected key(s) in state_dict: 'extra'" in str(info.value)
    missing, unexpected = b.load_state_dict(sd, strict=False)
    assert missing == ["head.bias"] and unexpected == ["extra"]


def test_load_state_dict_pre_hooks_see_a_copy_with_their_module_prefix():
    source, net = nn.Sequential(nn.Linear(3, 2)), nn.Sequential(nn.Linear(3, 2))
    checkpoint = {k.replace("weight", "w"): v for k, v in source.state_dict().items()}
    seen = []

    def rename(module, state_dict, prefix, local_metadata, strict, missing, unexpected, errors):
        seen.append((type(module).__name__, prefix, strict))
        state_dict[prefix + "weight"] = state_dict.pop(prefix + "w")
    handle = net[0].register_load_state_dict_pre_hook(rename)
    net.load_state_dict(checkpoint)
    assert seen == [("Linear", "0.", True)] and "0.w" in checkpoint
    np.testing.assert_array_equal(net[0].weight.detach().numpy(), source[0].weight.detach().numpy())
    handle.remove()
    with pytest.raises(RuntimeError, match="Unexpected key.*'0.w'"):
        net.load_state_dict(checkpoint)
    # PyTorch's older form: no module argument; a message in error_msgs fails the load
    net[0]._register_load_state_dict_pre_hook(
        lambda state_dict, prefix, *rest: rest[-1].append(f"refused {prefix}"))
    with pytest.raises(RuntimeError, match="refused 0."):
        net.load_state_dict(source.state_dict())


def test_load_state_dict_names_the_key_on_shape_or_dtype_mismatch():
    lin = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="size mismatch for weight.*\\(2, 4\\).*\\(2, 3\\)"):
        lin.load_state_dict({"weight": mg.ones(2, 4), "bias": mg.ones(2)})
    with pytest.raises(RuntimeError, match="dtype mismatch for bias.*float64.*float32"):
        lin.load_state_dict({"weight": mg.ones(2, 3), "bias": mg.ones(2, dtype=mg.float64)})


def test_to_dtype_keeps_parameter_objects_and_integer_buffers():
    net = Net()
    params = list(net.parameters())
    net.to(mg.float64)
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert all(p.dtype is mg.float64 for p in net.parameters())
    assert net.features[1].running_mean.dtype is mg.float64
    assert net.features[1].num_batches_tracked.dtype is mg.int64
    assert net(mg.randn(2, 1, 5, 5, dtype=mg.float64)).dtype is mg.float64
    net.to("numpy")
    with pytest.raises(TypeError, match="floating point"):
        net.to(mg.int32)


def test_default_initialisation_follows_pytorch_bounds():
    mg.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)   # kaiming_uniform_(a=sqrt(5)) on fan_in 400
    w, b = lin.weight.detach().cpu().numpy(), lin.bias.detach().cpu().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.9 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    conv = nn.Conv2d(8, 16, 3)
    conv_bound = 1 / math.sqrt(8 * 9)
    assert np.abs(conv.weight.detach().cpu().numpy()).max() <= conv_bound
    t = mg.empty(200, 100)
    nn.init.xavier_normal_(t)
    assert abs(t.cpu().numpy().std() - math.sqrt(2 / 300)) < 0.005
    nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")
    assert abs(t.cpu().numpy().std() - math.sqrt(2 / 200)) < 0.005
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(mg.empty(3))


def test_batchnorm_running_stats_momentum_and_cumulative_average():
    bn = nn.BatchNorm1d(3, momentum=None)
    xs = [mg.randn(8, 3) for _ in range(3)]
    for x in xs:
        bn(x)
    stacked = np.stack([x.cpu().numpy() for x in xs])
    np.testing.assert_allclose(bn.running_mean.cpu().numpy(), stacked.mean(1).mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.cpu().numpy(), stacked.var(1, ddof=1).mean(0),
                               rtol=1e-5)
    assert bn.num_batches_tracked.item() == 3
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(mg.randn(1, 3))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        bn(mg.randn(2, 3, 4, 5))


def test_containers_and_repr():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.ReLU()])
    layers.append(nn.Tanh())
    assert len(layers) == 3 and isinstance(layers[-1], nn.Tanh)
    d = nn.ModuleDict({"a": nn.Linear(1, 1)})
    d["b"] = nn.Linear(1, 2)
    assert list(d) == ["a", "b"] and len(list(d.parameters())) == 4
    seq = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.1))
    assert isinstance(seq[1:], nn.Sequential) and len(seq[1:]) == 2
    assert repr(seq) == ("Sequential(\n  (0): Linear(in_features=4, out_features=8, "
                         "bias=True)\n  (1): ReLU()\n  (2): Dropout(p=0.1, inplace=False)\n)")
    with pytest.raises(IndexError, match="out of range"):
        seq[5]


def test_embedding_layer_and_clip_grad():
    emb = nn.Embedding(10, 4, padding_idx=0)
    assert (emb.weight.detach().cpu().numpy()[0] == 0).all()
    emb(mg.tensor([[0, 3], [3, 9]])).sum().backward()
    assert (emb.weight.grad.cpu().numpy()[0] == 0).all() and (emb.weight.grad.cpu().numpy()[3] == 2).all()
    with pytest.raises(IndexError, match="embedding: index 10 is out of bounds for dimension 0 with size 10"):
        emb(mg.tensor([10]))
    p = nn.Parameter(mg.zeros(4))
    p.grad = mg.tensor([3.0, 4.0, 0.0, 0.0])
    total = nn.utils.clip_grad_norm_([p], 1.0)
    assert total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.cpu().numpy(), [0.6, 0.8, 0, 0], rtol=1e-5)
    nn.utils.clip_grad_value_([p], 0.7)
    np.testing.assert_allclose(p.grad.cpu().numpy(), [0.6, 0.7, 0, 0], rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_a_cnn_trains_in_other_floating_dtypes(dtype):
    dtype = getattr(mg, dtype)
    mg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(16, 3)).to(dtype)
    opt = mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = mg.randn(8, 1, 8, 8).to(dtype), mg.randint(0, 3, (8,))
    losses = []
    for _ in range(15):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert loss.dtype is dtype and all(p.dtype is dtype for p in model.parameters())
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0], losses


def test_deepcopy_and_pickle_give_independent_equal_models():
    import copy
    import pickle
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(),
                          nn.Linear(2 * 6 * 6, 3)).eval()
    x = mg.randn(2, 1, 8, 8)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert isinstance(clone[0].weight, nn.Parameter) and clone[0].weight.requires_grad
        assert clone[0].weight is not model[0].weight
        # a pickle keeps the device string: "cpu" may be served by another backend than the
        # model's (the C++ plugin where the tests pin numpy), so feed the clone on its own
        x_clone = mg.tensor(x.numpy(), device=clone[0].weight._backend)
        np.testing.assert_allclose(clone(x_clone).detach().cpu().numpy(),
                                   model(x).detach().cpu().numpy(), rtol=1e-5, atol=1e-6)
        with mg.no_grad():
            clone[3].bias.fill_(100.0)
        assert model[3].bias.detach().cpu().numpy().max() < 100.0
