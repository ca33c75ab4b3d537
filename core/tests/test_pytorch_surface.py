"""The API surface PyTorch programs reach for first, checked against torch 2.13: optional
parameters and buffers, torch.nn.modules paths, device namespaces answered from the registry,
torch.backends flags, legacy constructors, range indexing, autocast and GradScaler, compile
and onnx."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn as nn
import micrograd.nn.functional as F

torch = pytest.importorskip("torch")


# ------------------------------------------------------------------ optional parameters
@pytest.mark.parametrize("build", [
    lambda m: m.nn.Linear(3, 4, bias=False),
    lambda m: m.nn.Conv2d(2, 3, 3, bias=False),
    lambda m: m.nn.Conv1d(2, 3, 3, bias=False),
    lambda m: m.nn.BatchNorm1d(4, affine=False),
    lambda m: m.nn.BatchNorm2d(4, track_running_stats=False),
    lambda m: m.nn.LayerNorm(4, elementwise_affine=False),
    lambda m: m.nn.LayerNorm(4, bias=False),
], ids=["linear", "conv2d", "conv1d", "bn_affine", "bn_stats", "ln_affine", "ln_bias"])
def test_optional_parameters_and_buffers_match_pytorch(build):
    ours, theirs = build(mg), build(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]


def _register_steps(lib):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_parameter("gain", None)
            self.register_buffer("stats", None)
            self.register_parameter("gain", lib.nn.Parameter(lib.ones(2)))   # fill the slot
            self.plain = 3
    net = Net()
    out = [list(net.state_dict())]
    net.gain = None                       # clearing a declared parameter
    net.stats = lib.zeros(1)              # filling a declared buffer
    out.append(list(net.state_dict()))
    for call in (lambda: net.register_parameter("plain", None),
                 lambda: net.register_buffer("gain", None),
                 lambda: net.register_parameter("stats", None),
                 lambda: net.register_parameter("forward", None)):
        try:
            call()
            out.append("ok")
        except KeyError:
            out.append("KeyError")
    return out


def test_register_parameter_and_buffer_follow_pytorchs_rules():
    assert _register_steps(mg) == _register_steps(torch)


def test_torch_nn_modules_paths_exist_for_every_layer():
    for name in mg.nn.modules.__all__:
        torch_module = getattr(torch.nn, name).__module__        # e.g. torch.nn.modules.sparse
        ours = importlib.import_module(torch_module.replace("torch", "micrograd", 1))
        assert getattr(ours, name) is getattr(mg.nn, name), torch_module
    from micrograd.nn.modules.module import Module
    assert Module is mg.nn.Module


# ------------------------------------------------------------------ device namespaces
def _starts(device: str) -> bool:
    try:
        mg.zeros(1, device=device)
        return True
    except Exception:  # noqa: BLE001 - whatever the reason, the device is not usable
        return False


def test_cuda_namespace_answers_from_the_registry():
    available = _starts("cuda")
    assert mg.cuda.is_available() is available
    if available:
        pytest.skip("the unavailable-CUDA behaviour needs a machine without CUDA")
    assert mg.cuda.device_count() == 0 and not mg.cuda.is_bf16_supported()
    state = mg.default_generator._rng.bit_generator.state
    mg.cuda.manual_seed(123)
    mg.cuda.manual_seed_all(123)
    assert mg.default_generator._rng.bit_generator.state == state    # a no-op, as in torch
    with pytest.raises(AssertionError, match="not compiled with CUDA"):
        mg.cuda.synchronize()
    with pytest.raises(RuntimeError, match="invalid device ordinal cuda:1.*0 cuda device"):
        mg.cuda.set_device(1)
    assert mg.cuda.current_device() == 0
    mg.cuda.empty_cache()


def test_accelerator_is_the_best_available_non_host_backend():
    expected = next((t for t in ("cuda", "metal") if _starts(t)), None)
    current = mg.accelerator.current_accelerator()
    assert (current.type if current else None) == expected
    assert mg.accelerator.is_available() is (expected is not None)
    if expected:
        assert mg.accelerator.device_count() >= 1 and mg.accelerator.current_device_index() == 0
        mg.accelerator.synchronize()
    assert mg.backends.mps.is_available() is False and mg.cpu.is_available()


def test_backends_is_one_callable_namespace_even_after_tensors_exist():
    # issue 13: importing the numpy backend's module used to shadow the function
    script = ("import micrograd as mg\n"
              "mg.ones(2) + 1\n"
              "import micrograd.backends.numpy_backend\n"
              "assert callable(mg.backends) and mg.backends()['numpy'] == 'cpu'\n"
              "assert mg.backends.cudnn.is_available() is False\n"
              "print('ok')\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert run.stdout.strip() == "ok", run.stderr


def test_backend_flags_are_settable_and_typos_raise():
    cudnn, matmul = mg.backends.cudnn, mg.backends.cuda.matmul
    saved = cudnn.benchmark, cudnn.deterministic, matmul.allow_tf32
    try:
        cudnn.benchmark = True
        cudnn.deterministic = True
        matmul.allow_tf32 = True
        assert cudnn.benchmark and cudnn.deterministic and matmul.allow_tf32
        with pytest.raises(AttributeError, match="no flag 'benchmrk'"):
            cudnn.benchmrk = True
        with pytest.raises(AttributeError, match="no flag 'allow_tf33'"):
            matmul.allow_tf33 = True
    finally:
        cudnn.benchmark, cudnn.deterministic, matmul.allow_tf32 = saved


# ------------------------------------------------------------------ tensors
def test_device_predicates():
    x = mg.ones(2)
    assert x.is_cpu and not (x.is_cuda or x.is_mps or x.is_xpu or x.is_meta or x.is_sparse)
    assert x.get_device() == torch.ones(2).get_device() == -1


@pytest.mark.parametrize("name,args", [
    ("Tensor", (2, 3)), ("Tensor", ([1, 2],)), ("Tensor", ()), ("FloatTensor", (3,)),
    ("FloatTensor", ([[1, 2]],)), ("DoubleTensor", ([0.5],)), ("LongTensor", ([1, 2],)),
    ("IntTensor", (2,)), ("BoolTensor", ([True, False],)), ("ByteTensor", ([1, 255],)),
    ("HalfTensor", ([1.5],)),
])
def test_legacy_constructors_match_pytorch(name, args):
    ours, theirs = getattr(mg, name)(*args), getattr(torch, name)(*args)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert ours.dtype.name == str(theirs.dtype).split(".")[1]
    if not all(isinstance(a, int) for a in args):      # sizes: torch's memory is uninitialised
        np.testing.assert_array_equal(ours.float().numpy(), theirs.float().numpy())


def test_legacy_types_check_dtype_and_share_storage():
    assert isinstance(mg.zeros(2), mg.FloatTensor) and not isinstance(mg.zeros(2), mg.LongTensor)
    assert isinstance(mg.arange(3), mg.LongTensor) and isinstance(mg.zeros(1), mg.Tensor)
    x = mg.zeros(3)
    alias = mg.Tensor(x)
    alias[0] = 5.0
    assert x[0].item() == 5.0
    for lib in (torch, mg):
        with pytest.raises(TypeError):
            lib.FloatTensor(lib.arange(3))
        with pytest.raises(TypeError):
            lib.Tensor(1.5)                 # data must be a sequence


def test_indexing_and_assignment_with_a_range():
    values = np.arange(20.0).reshape(5, 4)
    ours, theirs = mg.tensor(values), torch.tensor(values)
    for key in (range(3), range(1, 5, 2), range(0), (slice(None), range(2, 4))):
        np.testing.assert_array_equal(ours[key].numpy(), theirs[key].numpy())
    ours[range(1, 3)] = -1.0
    theirs[range(1, 3)] = -1.0
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# ------------------------------------------------------------------ mixed precision
def _pair(seed=0):
    rng = np.random.default_rng(seed)
    w, b = rng.standard_normal((4, 8)).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    x = rng.standard_normal((3, 8)).astype(np.float32)
    return w, b, x


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_autocast_runs_linear_in_low_precision_and_losses_in_float32(dtype):
    w, b, x = _pair()
    results = {}
    for lib in (mg, torch):
        weight = lib.tensor(w, requires_grad=True)
        with lib.autocast("cpu", dtype=getattr(lib, dtype)):
            y = F.linear(lib.tensor(x), weight, lib.tensor(b)) if lib is mg else \
                torch.nn.functional.linear(torch.tensor(x), weight, torch.tensor(b))
            loss = (F if lib is mg else torch.nn.functional).mse_loss(y, lib.zeros(3, 4))
            z = lib.tensor(x) @ lib.tensor(w).t()
        loss.backward()
        results[lib] = (y.dtype, loss.dtype, z.dtype, y.float().detach().numpy(),
                        weight.grad.dtype, weight.grad.numpy())
    ours, theirs = results[mg], results[torch]
    assert [str(d).split(".")[1] for d in ours[:3]] == [str(d).split(".")[1] for d in theirs[:3]]
    # within one rounding of the low-precision dtype (PyTorch rounds x @ W.T + b once; the
    # product and the bias add round separately here)
    ulp = {"bfloat16": 2.0 ** -7, "float16": 2.0 ** -10}[dtype]
    np.testing.assert_allclose(ours[3], theirs[3], rtol=ulp, atol=ulp)
    assert ours[4] is mg.float32
    np.testing.assert_allclose(ours[5], theirs[5], rtol=2e-2, atol=1e-2)


def test_autocast_covers_conv_and_nests_like_pytorch():
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5)).astype(np.float32)
    conv = nn.Conv2d(2, 3, 3)
    with mg.autocast("cpu"):
        assert conv(mg.tensor(x)).dtype is mg.bfloat16
        assert mg.is_autocast_enabled("cpu") and mg.get_autocast_dtype("cpu") is mg.bfloat16
        with mg.autocast("cpu", enabled=False):
            assert conv(mg.tensor(x)).dtype is mg.float32 and not mg.is_autocast_enabled("cpu")
        assert (mg.ones(2, 2) @ mg.ones(2, 2)).dtype is mg.bfloat16
        assert (mg.ones(2, 2, dtype=mg.float64) @ mg.ones(2, 2, dtype=mg.float64)).dtype \
            is mg.float64
    assert not mg.is_autocast_enabled("cpu") and conv(mg.tensor(x)).dtype is mg.float32

    @mg.cpu.amp.autocast()
    def run(t):
        return conv(t)
    assert run(mg.tensor(x)).dtype is mg.bfloat16


def test_autocast_on_an_unavailable_device_warns_and_stays_off():
    if mg.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    with pytest.warns(UserWarning, match="'cuda'.*Disabling"):
        region = mg.amp.autocast("cuda")
    with region:
        assert (mg.ones(2, 2) @ mg.ones(2, 2)).dtype is mg.float32
    with pytest.raises(RuntimeError, match="unsupported autocast device_type 'tpu'"):
        mg.autocast("tpu")


def _scaler_run(lib, steps):
    w = lib.tensor([1.0, -2.0, 3.0], requires_grad=True) if lib is mg else \
        torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    opt = lib.optim.SGD([w], lr=0.1)
    scaler = lib.amp.GradScaler("cpu", init_scale=8.0, growth_interval=2)
    trace = []
    for bad in steps:
        opt.zero_grad()
        loss = (w * w).sum() * (float("inf") if bad else 1.0)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        try:
            scaler.unscale_(opt)
            twice = "ok"
        except RuntimeError:
            twice = "RuntimeError"
        scaler.step(opt)
        scaler.update()
        trace.append((scaler.get_scale(), w.detach().numpy().tolist(), twice))
    return trace, scaler.state_dict()


def test_grad_scaler_skips_inf_steps_and_adapts_the_scale_like_pytorch():
    steps = [False, True, False, False, False, True]
    ours, theirs = _scaler_run(mg, steps), _scaler_run(torch, steps)
    for (s1, w1, t1), (s2, w2, t2) in zip(ours[0], theirs[0]):
        assert s1 == s2 and t1 == t2
        np.testing.assert_allclose(w1, w2, rtol=1e-6)
    assert ours[1] == theirs[1]
    restored = mg.amp.GradScaler("cpu")
    restored.load_state_dict(ours[1])
    assert restored.state_dict() == theirs[1]


# ------------------------------------------------------------------ compile and onnx
def test_compile_returns_a_compiled_callable_in_every_spelling():
    def f(x):
        return (x * 2).sum()
    x = mg.arange(4.0)
    assert mg.compile(f)(x).item() == 12.0
    assert mg.compile(mode="max-autotune")(f)(x).item() == 12.0
    model = nn.Linear(2, 2)
    compiled = mg.compile(model, fullgraph=True, dynamic=False)
    assert compiled._orig_mod is model and isinstance(compiled, nn.Module)

    @mg.compile
    def g(x):
        return x + 1
    assert g(x).tolist() == [1.0, 2.0, 3.0, 4.0] and g.__name__ == "g"
    with pytest.raises(RuntimeError, match="Unrecognized mode='fastest'"):
        mg.compile(f, mode="fastest")
    assert mg.compiler.is_compiling() is False


def test_onnx_imports_and_export_says_it_is_not_implemented(tmp_path):
    import micrograd.onnx
    with pytest.raises(NotImplementedError, match="no ONNX exporter.*Linear.*model.onnx"):
        micrograd.onnx.export(nn.Linear(2, 2), (mg.ones(1, 2),), str(tmp_path / "model.onnx"))
    assert not (tmp_path / "model.onnx").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert micrograd.onnx.is_in_onnx_export() is False


# ------------------------------------------------------------------ a whole program
_PROGRAM = '''
nn, F = torch.nn, torch.nn.functional
DataLoader, TensorDataset = torch.utils.data.DataLoader, torch.utils.data.TensorDataset
device = "cuda" if torch.cuda.is_available() else "cpu"
torch.backends.cudnn.benchmark = True
torch.backends.cuda.matmul.allow_tf32 = True
torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16, bias=False)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


model = Net().to(device)
model.load_state_dict(torch.load(INIT, map_location=device, weights_only=True))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
scaler = torch.amp.GradScaler(device, enabled=USE_AMP)
loader = DataLoader(TensorDataset(torch.tensor(X), torch.tensor(Y)), batch_size=16,
                    num_workers=2, pin_memory=True)
losses = []
for epoch in range(2):
    for xb, yb in loader:
        xb, yb = xb.to(device), yb.to(device)
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=USE_AMP):
            loss = F.cross_entropy(model(xb), yb)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
            "scaler": scaler.state_dict()}, OUT)
checkpoint = torch.load(OUT, weights_only=True)
model.load_state_dict(checkpoint["model"])
opt.load_state_dict(checkpoint["optimizer"])
scaler.load_state_dict(checkpoint["scaler"])
'''


@pytest.mark.parametrize("use_amp", [False, True], ids=["fp32", "autocast_bf16"])
def test_a_training_script_runs_with_only_the_import_changed(tmp_path, use_amp):
    rng = np.random.default_rng(0)
    data = {"X": rng.standard_normal((48, 8)).astype(np.float32),
            "Y": rng.integers(0, 3, 48), "USE_AMP": use_amp}
    torch.manual_seed(0)
    fc1, fc2 = torch.nn.Linear(8, 16, bias=False), torch.nn.Linear(16, 3)
    init = tmp_path / "init.pt"          # initial weights written by PyTorch itself
    torch.save({"fc1.weight": fc1.weight.detach(), "fc2.weight": fc2.weight.detach(),
                "fc2.bias": fc2.bias.detach()}, init)
    losses = {}
    for lib in (torch, mg):
        scope = {"torch": lib, "INIT": str(init), "OUT": str(tmp_path / f"{lib.__name__}.pt"),
                 **data}
        exec(compile(_PROGRAM, f"<program on {lib.__name__}>", "exec"), scope)
        losses[lib] = scope["losses"]
    assert len(losses[mg]) == len(losses[torch]) == 6
    np.testing.assert_allclose(losses[mg], losses[torch], rtol=2e-2 if use_amp else 1e-5)


def test_matmul_precision_and_cuda_legacy_types_follow_pytorch():
    steps = [("set", "medium"), ("get",), ("set", "high"), ("get",), ("set", "highest"),
             ("get",)]
    seen = {}
    for lib in (mg, torch):
        trace = []
        for step in steps:
            if step[0] == "set":
                lib.set_float32_matmul_precision(step[1])
            elif step[0] == "flag":
                lib.backends.cuda.matmul.allow_tf32 = step[1]
            trace.append((lib.get_float32_matmul_precision(), lib.backends.cuda.matmul.allow_tf32))
        seen[lib] = trace
    assert seen[mg] == seen[torch]
    assert not isinstance(mg.zeros(1), mg.cuda.FloatTensor)
    assert mg.cuda.LongTensor.dtype is mg.int64 and mg.cuda.FloatTensor.device_type == "cuda"


def test_tensor_type_with_legacy_types_and_pinning_calls():
    for lib in (mg, torch):
        x = lib.ones(2)
        assert x.type(lib.LongTensor).tolist() == [1, 1]
        assert x.type(lib.DoubleTensor).dtype is lib.float64
        assert x.is_pinned() is False
        assert x.to("cpu", non_blocking=True).tolist() == [1.0, 1.0]
    pinned = mg.ones(2).pin_memory()      # torch needs an accelerator for this; here a no-op
    assert pinned.tolist() == [1.0, 1.0] and not pinned.is_pinned()
