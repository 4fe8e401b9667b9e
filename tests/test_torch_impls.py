"""The torch path's three implementations of one rule: impl="single", "foreach" and "fused".

Every optimizer of ``optimizer_cases`` runs on a few parameters of mixed shapes (a complex one
among them) under a learning-rate scheduler; foreach must equal single for every option row, bit
for bit on the CPU (the same kernels in the same order), and fused must equal it within float32
rounding for one option row per optimizer (the row with the most options: each row is one
compile, seconds, so the module compiles once per optimizer and reuses the kernels). Fused must
not recompile when the scheduler changes lr. Rules that reduce over a parameter (FAdam's RMS,
the cautious mask's count) keep per-parameter semantics under both batched impls.
"""

import copy
import warnings

import pytest
import torch

import optlab
from optimizer_cases import CASES, OPTIONS, PACKAGE_WARNINGS, case_id, make
from optlab import torch_adapter

pytestmark = PACKAGE_WARNINGS

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
SHAPES = [(4, 3), (7,), (2, 3, 2)]
STEPS = 8

# one option row per optimizer for the compiled kernel: the row that sets the most options
FUSED_CASES = [(name, max(rows, key=len)) for name, rows in OPTIONS.items()]


@pytest.fixture(autouse=True, scope="module")
def compile_in_this_process():
    """Inductor compiles in this process: starting its pool of compile workers (each one
    imports torch) costs more than the dozen small kernels this module compiles."""
    import torch._inductor.config as config

    with config.patch(compile_threads=1):
        yield


@pytest.fixture(autouse=True)
def one_parameter_a_call(monkeypatch):
    """The kernel takes FUSED_CHUNK parameters a call, and its compile time grows with it: here
    one (test_fused_routes_by_size checks chunks of two, padded)."""
    monkeypatch.setattr(torch_adapter, "FUSED_CHUNK", 1)



def parameters(device, complex_too=True, seed=0):
    generator = torch.Generator().manual_seed(seed)
    params = [torch.randn(shape, generator=generator) for shape in SHAPES]
    if complex_too:
        params.append(torch.randn(5, dtype=torch.complex64, generator=generator))
    return [torch.nn.Parameter(p.to(device)) for p in params]


def gradient(p):
    x = p.detach()
    if x.is_complex():
        return torch.view_as_complex(torch.sin(3 * torch.view_as_real(x)) + torch.view_as_real(x))
    return torch.sin(3 * x) + x


def run(opt, impl, device, steps=STEPS, params=None, on_step=None, check_finite=True):
    """`steps` steps of `opt` under StepLR (lr halved every 2 steps); the parameters and the
    optimizer."""
    params = parameters(device) if params is None else params
    optimizer = optlab.torch_optimizer(opt, params, impl=impl, check_finite=check_finite)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    for t in range(steps):
        for p in params:
            p.grad = gradient(p)
        optimizer.step()
        scheduler.step()
        if on_step is not None:
            on_step(t)
    return params, optimizer


def assert_same(params, optimizer, ref_params, ref_optimizer, exact):
    """Parameters and every state entry equal: bit for bit, or (exact=False) within float32
    rounding: |a − b| <= 1e-6 |b| + 1e-6 max|b| elementwise (the second term for entries that
    pass near 0 by cancellation, where a relative bound means nothing)."""
    def close(a, b, what):
        if exact:
            assert torch.equal(a, b), what
        else:
            a, b = torch.view_as_real(a) if a.is_complex() else a, \
                torch.view_as_real(b) if b.is_complex() else b
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6 * float(b.abs().max()),
                                       msg=lambda m: f"{what}: {m}")

    for i, (p, q) in enumerate(zip(params, ref_params)):
        close(p.detach(), q.detach(), f"parameter {i}")
        state, ref_state = optimizer.state[p], ref_optimizer.state[q]
        assert set(state) == set(ref_state)
        for key, value in ref_state.items():
            if torch.is_tensor(value):
                assert state[key].shape == value.shape and state[key].dtype == value.dtype
                close(state[key], value, f"parameter {i}'s {key}")
            elif isinstance(value, float):
                assert state[key] == pytest.approx(value, rel=1e-12, abs=0), key
            else:
                assert state[key] == value and type(state[key]) is type(value), key


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_foreach_equals_single(case, device):
    name, kwargs = case
    ref = run(make(name, **kwargs), "single", device)
    ours = run(make(name, **kwargs), "foreach", device)
    assert_same(*ours, *ref, exact=device == "cpu")


def unique_graphs():
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", FUSED_CASES, ids=case_id)
def test_fused_equals_single_and_does_not_recompile_when_lr_changes(case, device):
    """After the first steps (the compile; SGD's first step, with no momentum buffer yet, runs
    foreach), StepLR halves lr every other step and nothing compiles again."""
    name, kwargs = case
    ref = run(make(name, **kwargs), "single", device)
    compiled = {}

    def on_step(t):
        if t == 1:  # from here on no step may compile
            compiled["graphs"] = unique_graphs()
            compiled["patch"] = torch._dynamo.config.patch(error_on_recompile=True)
            compiled["patch"].__enter__()

    try:
        ours = run(make(name, **kwargs), "fused", device, on_step=on_step)
    finally:
        if "patch" in compiled:
            compiled["patch"].__exit__(None, None, None)
    assert unique_graphs() == compiled["graphs"]
    assert ours[1].param_groups[0]["lr"] == ref[1].param_groups[0]["lr"] < kwargs.get("lr", 1)
    assert_same(*ours, *ref, exact=False)


def test_fused_routes_by_size(monkeypatch):
    """Parameters of FUSED_PARALLEL_MIN (32768) elements or more go to the kernel whose loops
    run on all threads, smaller ones to the one-thread kernel, in chunks of FUSED_CHUNK (the
    last one padded), and a one-element parameter (its size would compile apart) to foreach;
    the numbers are single's either way."""
    routes = []
    for method in ("_fused", "_foreach"):
        original = getattr(torch_adapter.OptlabTorchOptimizer, method)

        def spy(self, *args, _original=original, _method=method):
            params = args[1] if _method == "_fused" else args[0]
            kind = _method if _method == "_foreach" else \
                "parallel" if params[0].numel() >= torch_adapter.FUSED_PARALLEL_MIN else "serial"
            routes.append((kind, tuple(p.numel() for p in params)))
            return _original(self, *args)

        monkeypatch.setattr(torch_adapter.OptlabTorchOptimizer, method, spy)
    monkeypatch.setattr(torch_adapter, "FUSED_CHUNK", 2)
    name, kwargs = FUSED_CASES[[n for n, _ in FUSED_CASES].index("Adam")]
    sizes = (1 << 15, 2, 3, 4, 5, 6, 1)  # one large, five small (three chunks), one of 1 element
    make_params = lambda: [torch.nn.Parameter(torch.linspace(-1, 1, n))  # noqa: E731
                           for n in sizes]
    ours = run(make(name, **kwargs), "fused", "cpu", steps=3, params=make_params())
    assert set(routes) == {("parallel", (1 << 15,)), ("serial", (2, 3, 4, 5, 6)),
                           ("_foreach", (1,))}
    routes.clear()
    ref = run(make(name, **kwargs), "single", "cpu", steps=3, params=make_params())
    assert routes == []
    assert_same(*ours, *ref, exact=False)


def test_fused_compiles_once_per_rule_and_options_and_reuses_the_kernel():
    before = len(torch_adapter._KERNELS)
    name, kwargs = FUSED_CASES[[n for n, _ in FUSED_CASES].index("Adam")]
    for _ in range(2):  # a second optimizer, other parameters and sizes: the same kernel
        run(make(name, **kwargs), "fused", "cpu", steps=2,
            params=[torch.nn.Parameter(torch.randn(n)) for n in (3, 11, 40)])
    assert len(torch_adapter._KERNELS) - before <= 1


@pytest.mark.parametrize("impl", ["foreach", "fused"])
@pytest.mark.parametrize("name", ["FAdam", "CautiousAdamW"])
def test_reductions_stay_per_parameter(name, impl):
    """FAdam clips by each parameter's RMS, Cautious rescales by each parameter's count. Two
    parameters of very different scale: the batched impls must give what single gives, and that
    differs from treating the two as one tensor (so the test can tell)."""
    kwargs = dict(FUSED_CASES)[name]
    make_params = lambda: [torch.nn.Parameter(torch.linspace(-1, 1, 6) * s)  # noqa: E731
                           for s in (1e-3, 1e3)]

    def steps(optimizer, params):
        for _ in range(3):
            for p in params:
                p.grad = torch.sin(7 * p.detach()) * p.detach().abs().max()
            optimizer.step()

    ours, ref, joined = make_params(), make_params(), make_params()
    steps(optlab.torch_optimizer(make(name, **kwargs), ours, impl=impl), ours)
    steps(optlab.torch_optimizer(make(name, **kwargs), ref, impl="single"), ref)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6 * float(b.detach().abs().max()))
    one = torch.nn.Parameter(torch.cat([p.detach() for p in joined]))
    steps(optlab.torch_optimizer(make(name, **kwargs), [one], impl="single"), [one])
    assert not torch.allclose(one.detach(), torch.cat([p.detach() for p in ref]), rtol=1e-3)


def test_default_impl_is_torchs(monkeypatch):
    """torch.optim's default: foreach where every parameter is on a device with foreach kernels
    (CUDA), else single."""
    p = torch.nn.Parameter(torch.ones(3))
    assert optlab.torch_optimizer(optlab.Adam(), [p])._impl([p]) == "single"
    monkeypatch.setattr(torch_adapter, "_foreach_devices", lambda: ["cpu", "cuda"])
    assert optlab.torch_optimizer(optlab.Adam(), [p])._impl([p]) == "foreach"
    assert optlab.torch_optimizer(optlab.Adam(), [p], impl="single")._impl([p]) == "single"


def test_bad_impl_is_refused():
    with pytest.raises(ValueError, match="impl must be one of 'single', 'foreach', 'fused'"):
        optlab.torch_optimizer(optlab.Adam(), [torch.nn.Parameter(torch.ones(2))], impl="fast")


@pytest.mark.parametrize("impl", ["foreach", "fused"])
def test_non_contiguous_parameter_and_mixed_dtypes(impl):
    """A transposed parameter cannot be flattened in place: it takes the single rule, the rest
    are batched; float64 and float32 parameters go to separate batches (foreach)."""
    def make_params():
        base = torch.randn(4, 3, generator=torch.Generator().manual_seed(2))
        params = [torch.nn.Parameter(base.t()), torch.nn.Parameter(base.clone())]
        if impl == "foreach":  # (for fused, float64 would be one more compile, of the same code)
            params.append(torch.nn.Parameter(base.double()))
        return params

    name, kwargs = FUSED_CASES[[n for n, _ in FUSED_CASES].index("Adam")]
    ours = run(make(name, **kwargs), impl, "cpu", params=make_params())
    ref = run(make(name, **kwargs), "single", "cpu", params=make_params())
    assert not ours[0][0].is_contiguous()
    assert_same(*ours, *ref, exact=impl == "foreach")


@pytest.mark.parametrize("impl", ["foreach", "fused"])
def test_non_finite_gradient_leaves_everything_as_it_was(impl):
    name, kwargs = FUSED_CASES[[n for n, _ in FUSED_CASES].index("Adam")]
    params, optimizer = run(make(name, **kwargs), impl, "cpu", steps=3)
    before = copy.deepcopy(([p.detach() for p in params], optimizer.state_dict()))
    for p in params:
        p.grad = gradient(p)
    params[1].grad[2] = float("nan")
    with pytest.raises(FloatingPointError, match="parameter 1"):
        optimizer.step()
    for p, old in zip(params, before[0]):
        assert torch.equal(p.detach(), old)
    assert_state_dicts_equal(optimizer.state_dict(), before[1])


def assert_state_dicts_equal(a, b):
    assert a["param_groups"] == b["param_groups"]
    for index, state in b["state"].items():
        for key, value in state.items():
            other = a["state"][index][key]
            assert torch.equal(other, value) if torch.is_tensor(value) else other == value


def test_checkpoints_move_between_impls():
    """The state is the same whatever the impl: a fused run's checkpoint resumes under single
    and under torch.optim.Adam."""
    name, kwargs = FUSED_CASES[[n for n, _ in FUSED_CASES].index("Adam")]
    params, optimizer = run(make(name, **kwargs), "fused", "cpu", steps=4)
    saved = copy.deepcopy(optimizer.state_dict())
    for impl in ("single", "foreach"):
        again = [torch.nn.Parameter(p.detach().clone()) for p in params]
        resumed = optlab.torch_optimizer(make(name, **kwargs), again, impl=impl)
        resumed.load_state_dict(saved)
        assert_state_dicts_equal(resumed.state_dict(), saved)
    assert all(type(s["step"]) is int for s in optimizer.state.values())


def test_too_many_option_sets_fall_back_to_foreach(monkeypatch):
    """A scheduler that moves betas would compile every step: past FUSED_OPTIONS_LIMIT option
    sets for one rule, a group runs foreach (the same numbers) and says so once."""
    monkeypatch.setattr(torch_adapter, "_OPTION_SETS",
                        torch_adapter.defaultdict(set, {optlab.adam_update: set(range(8))}))
    monkeypatch.setattr(torch_adapter, "_WARNED", set())
    opt = optlab.Adam(lr=0.01, betas=(0.81, 0.99))  # options no test compiles
    with pytest.warns(RuntimeWarning, match="foreach"):
        ours = run(opt, "fused", "cpu", steps=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once only
        run(opt, "fused", "cpu", steps=1)
    assert_same(*ours, *run(opt, "single", "cpu", steps=3), exact=True)
