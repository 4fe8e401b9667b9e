"""The torch path at its edges, against torch.optim (and the authors' packages for AdaBound and
AdaMod, the rows of ``optimizer_cases.TORCH_CASES``): checkpoints handed over in both directions,
parameter groups added later, complex parameters, the finiteness check in every float dtype, and
RAdam with a short second-moment average (ρ∞ ≤ 5)."""

import copy
import io
import re

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import optlab
from optimizer_cases import PACKAGE_WARNINGS, REAL_ONLY, TORCH, TORCH_CASES, case_id, make

pytestmark = PACKAGE_WARNINGS

SHAPES = [(3, 4), (5,)]


@pytest.fixture(params=[torch.float32, torch.float64], ids=["default-float32", "default-float64"])
def default_dtype(request):
    """torch keeps step counts (and NAdam's μ product) in the default dtype: try both, or only
    float64 (``FLOAT64_DEFAULT``), where torch keeps NAdam's μ product as optlab does."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(request.param)
    yield request.param
    torch.set_default_dtype(previous)


FLOAT64_DEFAULT = pytest.mark.parametrize("default_dtype", [torch.float64], indirect=True,
                                          ids=["default-float64"])


def start(dtype=torch.float64, shapes=SHAPES, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=generator, dtype=dtype)) for s in shapes]


def complex_parameter(shape, seed):
    real, imaginary = start(shapes=[shape, shape], seed=seed)
    return torch.nn.Parameter(torch.complex(real, imaginary).detach())


def gradients(t, params):
    """The gradients of step t (0-based): the same for every run, a zero entry included."""
    generator = torch.Generator().manual_seed(100 + t)
    grads = [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in params]
    grads[0].view(-1)[0] = 0.0
    return grads


def run(opt, params, first, last, like=None):
    """Steps first..last-1 with their gradients. ``like``: the parameters whose gradients to take
    when `params` are the real pairs (torch.view_as_real) of complex ones; they get the pairs."""
    for t in range(first, last):
        for p, g in zip(params, gradients(t, params if like is None else like)):
            p.grad = torch.view_as_real(g) if g.is_complex() and not p.is_complex() else g
        opt.step()


def torch_opt(name, kwargs, params):
    return TORCH[name](params, foreach=False, **kwargs)


def optlab_opt(name, kwargs, params):
    return optlab.torch_optimizer(make(name, **kwargs), params)


def saved(opt):
    """The optimizer's state_dict after a trip through torch.save / torch.load (weights_only)."""
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    return torch.load(buffer)


# -- 1. resuming from a checkpoint, in both directions ----------------------------------------

BEFORE, AFTER = 7, 8  # RAdam's rectification starts at step 6: both phases see it


def resume(first, second, name, kwargs, params, after=AFTER):
    """BEFORE steps with an optimizer `first` makes, torch.save / torch.load of its state_dict
    into one `second` makes, `after` steps more (`params` in place); returns the second."""
    interrupted = first(name, kwargs, params)
    run(interrupted, params, 0, BEFORE)
    resumed = second(name, kwargs, params)
    resumed.load_state_dict(saved(interrupted))
    run(resumed, params, BEFORE, BEFORE + after)
    return resumed


def with_complex(name):
    """start()'s parameters and a complex128 one, unless the reference steps real tensors only
    (then test_complex_parameter_resumes_on_the_torch_path covers the complex one)."""
    return start() + ([] if name in REAL_ONLY else [complex_parameter((4,), seed=5)])


@pytest.mark.parametrize("direction", ["torch-to-optlab", "optlab-to-torch"])
@pytest.mark.parametrize("case", TORCH_CASES, ids=case_id)
def test_resume_from_the_other_library_continues_as_torch(case, direction, default_dtype):
    """BEFORE steps in one library, torch.save / torch.load of its state_dict, AFTER steps in the
    other: the parameters (float64, and a complex128 one) equal an uninterrupted torch.optim run."""
    name, kwargs = case
    # torch keeps NAdam's μ product in float32 under the float32 default dtype and optlab in
    # float64 (documented in nadam_update): measured gap 4e-11 after 15 steps; exact otherwise
    rtol, atol = (1e-9, 1e-11) if name == "NAdam" and default_dtype == torch.float32 else (1e-12, 1e-14)
    reference = with_complex(name)
    run(torch_opt(name, kwargs, reference), reference, 0, BEFORE + AFTER)

    first, second = ((torch_opt, optlab_opt) if direction == "torch-to-optlab"
                     else (optlab_opt, torch_opt))
    params = with_complex(name)
    resume(first, second, name, kwargs, params)
    torch.testing.assert_close(params, reference, rtol=rtol, atol=atol)


@pytest.mark.parametrize("case", [c for c in TORCH_CASES if c[0] in REAL_ONLY], ids=case_id)
def test_complex_parameter_resumes_on_the_torch_path(case, default_dtype):
    """The packages step no complex tensor, so for them the test above has none. optlab's own
    checkpoint of one (complex state through torch.save / torch.load) resumes bit for bit as an
    uninterrupted optlab run; test_complex_parameters_match_torch checks that run's steps against
    the package stepping the real pairs."""
    name, kwargs = case
    reference = start() + [complex_parameter((4,), seed=5)]
    run(optlab_opt(name, kwargs, reference), reference, 0, BEFORE + AFTER)
    params = start() + [complex_parameter((4,), seed=5)]
    resume(optlab_opt, optlab_opt, name, kwargs, params)
    assert params[-1].dtype == torch.complex128
    torch.testing.assert_close(params, reference, rtol=0, atol=0)


def test_resumed_step_counts_are_python_numbers_and_continue():
    """torch's float32 step tensors become ints (bias corrections then round as in torch);
    torch.optim.SGD keeps no step count, so optlab's SGD counts from the checkpoint on."""
    for name, kwargs in [("Adam", dict(lr=0.01)), ("NAdam", {}),
                         ("SGD", dict(lr=0.1, momentum=0.9))]:
        params = start()
        ours = resume(torch_opt, optlab_opt, name, kwargs, params, after=2)
        for p in params:
            state = ours.state[p]
            assert type(state["step"]) is int
            assert state["step"] == (2 if name == "SGD" else BEFORE + 2)
            if name == "NAdam":
                assert type(state["mu_product"]) is float


def test_checkpoint_of_another_algorithm_is_refused_and_nothing_changes():
    """The group options come from the checkpoint (as in torch.optim); the state must then hold
    every entry optlab's rule needs: Adamax's state has no exp_avg_sq (nor, with
    amsgrad, which the Adamax group does not set, max_exp_avg_sq) for Adam."""
    params = start()
    adamax = torch_opt("Adamax", dict(lr=0.01), params)
    run(adamax, params, 0, 3)
    adam = optlab_opt("Adam", dict(lr=0.01, amsgrad=True), params)
    run(adam, params, 3, 4)
    before = copy.deepcopy(adam.state_dict())
    with pytest.raises(ValueError, match=r"parameter 0 lacks \['exp_avg_sq', 'max_exp_avg_sq'\]"):
        adam.load_state_dict(saved(adamax))
    assert_state_dicts_equal(adam.state_dict(), before)


def test_checkpoint_with_invalid_options_is_refused_and_nothing_changes():
    """torch.optim.SGD takes dampening 2 (it does not check it); optlab does not."""
    params = start()
    theirs = torch_opt("SGD", dict(lr=0.1, momentum=0.9, dampening=2.0), params)
    run(theirs, params, 0, 2)
    ours = optlab_opt("SGD", dict(lr=0.1, momentum=0.9), params)
    before = copy.deepcopy(ours.state_dict())
    with pytest.raises(ValueError, match=re.escape("dampening must lie in [0, 1]")):
        ours.load_state_dict(saved(theirs))
    assert_state_dicts_equal(ours.state_dict(), before)


def assert_state_dicts_equal(a, b):
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for index, state in a["state"].items():
        assert state.keys() == b["state"][index].keys()
        for key, value in state.items():
            if torch.is_tensor(value):
                assert torch.equal(value, b["state"][index][key])
            else:
                assert value == b["state"][index][key]


def test_deepcopy_of_a_torch_path_optimizer_keeps_its_rule():
    """copy.deepcopy((model, optimizer)), as chapter 7 does with torch.optim, gives a twin that
    steps exactly as the original (torch.optim.Optimizer's __getstate__ keeps only its own keys)."""
    params = start()
    ours = optlab_opt("Adam", dict(lr=0.01, amsgrad=True), params)
    run(ours, params, 0, 3)
    twin_params, twin = copy.deepcopy((params, ours))
    assert twin.optlab.hyperparameters == ours.optlab.hyperparameters
    run(ours, params, 3, 6)
    run(twin, twin_params, 3, 6)
    torch.testing.assert_close(twin_params, params, rtol=0, atol=0)


# -- 2. add_param_group --------------------------------------------------------------------------

@pytest.mark.parametrize("options,error,message", [
    (dict(lr=-1.0), ValueError, "Invalid learning rate: -1.0 (lr must be >= 0)"),
    (dict(betas=(0.9, 1.0)), ValueError,
     "Invalid beta parameter at index 1: 1.0 (betas[1] must lie in [0, 1))"),
    (dict(eps=float("nan")), ValueError, "eps must be >= 0"),
    (dict(amsgrad=1), TypeError, "amsgrad must be True or False"),
    (dict(lr=np.array([0.1, 0.2])), TypeError, "the torch path takes float hyperparameters"),
])
def test_add_param_group_with_bad_options_raises_and_changes_nothing(options, error, message):
    first, second = start()
    ours = optlab.torch_optimizer(optlab.Adam(lr=0.1), [first])
    groups_before = [dict(g) for g in ours.param_groups]
    group = {"params": [second], **options}
    with pytest.raises(error, match=re.escape(message)):
        ours.add_param_group(group)
    assert [dict(g) for g in ours.param_groups] == groups_before
    assert set(group) == {"params", *options}  # the caller's dict is not filled in either
    # and the optimizer still works, a valid group included
    ours.add_param_group({"params": [second], "lr": 0.05})
    reference = [torch.nn.Parameter(p.detach().clone()) for p in (first, second)]
    theirs = torch.optim.Adam([{"params": [reference[0]]}, {"params": [reference[1]], "lr": 0.05}],
                              lr=0.1, foreach=False)
    run(ours, [first, second], 0, 5)
    run(theirs, reference, 0, 5)
    torch.testing.assert_close([first, second], reference, rtol=1e-12, atol=1e-14)


# -- 3. complex parameters -----------------------------------------------------------------------

@FLOAT64_DEFAULT
@pytest.mark.parametrize("case", TORCH_CASES, ids=case_id)
def test_complex_parameters_match_torch(case, default_dtype):
    """torch.optim steps a complex parameter as the real pairs torch.view_as_real gives
    (Adagrad's accumulator starts at τ + τi); so must optlab, and keep complex state for torch.
    The packages (REAL_ONLY) refuse complex tensors: they step the real pairs themselves."""
    name, kwargs = case
    params = [complex_parameter(shape, seed) for seed, shape in enumerate(SHAPES)]
    pairs = name in REAL_ONLY
    reference = [torch.nn.Parameter((torch.view_as_real(p) if pairs else p).detach().clone())
                 for p in params]
    as_complex = torch.view_as_complex if pairs else (lambda x: x)  # noqa: E731
    ours, theirs = optlab_opt(name, kwargs, params), torch_opt(name, kwargs, reference)
    run(ours, params, 0, 10)
    run(theirs, reference, 0, 10, like=params)
    assert all(p.dtype == torch.complex128 for p in params)
    torch.testing.assert_close(params, [as_complex(q.detach()) for q in reference],
                               rtol=1e-10, atol=1e-12)
    for p, q in zip(params, reference):
        for key, value in theirs.state[q].items():
            if torch.is_tensor(value) and value.dim() > 0:
                value = as_complex(value)
                assert ours.state[p][key].dtype == value.dtype
                torch.testing.assert_close(ours.state[p][key], value, rtol=1e-10, atol=1e-12)


def test_complex_arrays_are_refused_on_the_numpy_path():
    opt = optlab.Adam()
    with pytest.raises(TypeError, match="floating-point"):
        opt.init(np.zeros(3, dtype=complex))


# -- 4. the finiteness check -------------------------------------------------------------------

class Recorder(TorchDispatchMode):
    """Every aten op run inside the block, with the dtypes it produced."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        outputs = out if isinstance(out, (list, tuple)) else [out]
        self.ops.append((func.__name__, {o.dtype for o in outputs if torch.is_tensor(o)}))
        return out

    def host_reads(self):
        """Device-to-host reads (bool(), .item()): each is a synchronisation on a GPU."""
        return sum(name.startswith("_local_scalar_dense") for name, _ in self.ops)

    def dtypes(self):
        return set().union(*(dtypes for _, dtypes in self.ops))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_finite_gradients_whose_sum_overflows_need_one_host_read_and_no_float64(dtype):
    """Ten gradients, each finite but with a sum beyond the dtype's range: no error, no
    per-tensor search (one host read for the whole step), and no float64 (absent on MPS)."""
    big = torch.finfo(dtype).max / 2
    params = [torch.nn.Parameter(torch.zeros(8, dtype=dtype)) for _ in range(10)]
    opt = optlab.torch_optimizer(optlab.SGD(lr=1e-30 if dtype != torch.float16 else 1e-7), params)
    for p in params:
        p.grad = torch.full((8,), big, dtype=dtype)
        assert not torch.isfinite(p.grad.sum())
    with torch.no_grad(), Recorder() as recorder:
        opt.step()
    assert all(torch.isfinite(p).all() and (p < 0).all() for p in params)
    assert recorder.host_reads() == 1
    assert torch.float64 not in recorder.dtypes()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")],
                         ids=["nan", "inf", "-inf"])
def test_non_finite_gradient_is_found_in_every_dtype(dtype, bad):
    params = [torch.nn.Parameter(torch.ones(1000, dtype=dtype)) for _ in range(3)]
    opt = optlab.torch_optimizer(optlab.Adam(lr=0.01), params)
    for p in params:
        p.grad = torch.full_like(p, 0.5)
    opt.step()
    before = copy.deepcopy(opt.state_dict()), [p.detach().clone() for p in params]
    params[2].grad[617] = bad
    message = r"gradient for parameter 2 \(shape \(1000,\)\) has 1 NaN or infinite entry;"
    with pytest.raises(FloatingPointError, match=message):
        opt.step()
    assert_state_dicts_equal(opt.state_dict(), before[0])
    assert all(torch.equal(p, q) for p, q in zip(params, before[1]))


@pytest.mark.parametrize("name,kwargs,x0,grad,dtype", [
    ("GD", dict(lr=1e308), 1e10, 1e10, np.float64),            # the parameter overflows
    ("Adam", dict(lr=1e-3), 0.0, 1e30, np.float32),             # v = g² overflows float32
    ("RMSprop", dict(lr=1e-3, alpha=0.5, centered=True, eps=0.0), 0.0, 0.1, np.float64),
], ids=["param-overflows", "state-overflows", "centered-rmsprop-breaks-down"])
def test_check_finite_means_the_same_on_both_paths(name, kwargs, x0, grad, dtype):
    """A finite gradient whose step makes a parameter or its state non-finite raises on both
    paths (within 200 steps; the centered RMSprop breaks down after a number of them), and both
    leave parameters and state as they were."""
    opt = getattr(optlab, name)(**kwargs)
    x, g = np.full(2, x0, dtype=dtype), np.full(2, grad, dtype=dtype)
    state = opt.init(x)
    with pytest.raises(FloatingPointError, match="non-finite although its gradient was finite"):
        for _ in range(200):
            x, state = opt.step(x, g, state)

    p = torch.nn.Parameter(torch.full((2,), x0, dtype=getattr(torch, np.dtype(dtype).name)))
    ours = optlab.torch_optimizer(opt, [p])
    with pytest.raises(FloatingPointError,
                       match=r"parameter 0 .*non-finite although its gradient was finite"):
        for _ in range(200):
            snapshot = copy.deepcopy(ours.state_dict()), p.detach().clone()
            p.grad = torch.from_numpy(g.copy())
            ours.step()
    assert torch.equal(p.detach(), snapshot[1])
    assert_state_dicts_equal(ours.state_dict(), snapshot[0])


def test_the_check_can_be_turned_off_on_the_torch_path():
    p = torch.nn.Parameter(torch.ones(2))
    opt = optlab.torch_optimizer(optlab.GD(lr=0.1), [p], check_finite=False)
    p.grad = torch.tensor([1.0, float("nan")])
    opt.step()
    assert torch.isnan(p[1]) and p[0] == 0.9


# -- 5. RAdam with ρ∞ ≤ 5 ----------------------------------------------------------------------

@FLOAT64_DEFAULT
@pytest.mark.parametrize("betas", [(0.9, 0.6), (0.9, 0.5), (0.5, 0.0)])
def test_radam_with_a_short_second_moment_average_matches_torch(betas, default_dtype):
    """β₂ = 0.6 makes ρ∞ = 4 (a zero factor in r_t's denominator); ρ_t > 5 never holds, so torch
    takes the un-rectified step every time and never evaluates r_t. optlab must do the same."""
    kwargs = dict(lr=0.01, betas=betas)
    params, reference = start(), start()
    run(optlab_opt("RAdam", kwargs, params), params, 0, 20)
    run(torch_opt("RAdam", kwargs, reference), reference, 0, 20)
    torch.testing.assert_close(params, reference, rtol=1e-12, atol=1e-14)

    x = [p.detach().numpy().copy() for p in start()]
    opt = optlab.RAdam(**kwargs)
    state = opt.init(x)
    for t in range(20):
        x, state = opt.step(x, [g.numpy() for g in gradients(t, start())], state)
    for ours, theirs in zip(x, reference):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
