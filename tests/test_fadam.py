"""FAdam (Hwang 2024) against its algorithm box typed in NumPy, against pytorch-optimizer's
FAdam (with every difference pinned), and against facts derived a second way."""

import copy

import numpy as np
import pytest
import sympy as sp
import torch
from pytorch_optimizer import FAdam as ReferenceFAdam

import optlab
from optlab.display import algorithm_box_latex
from optlab.symbolic import run_rule

RTOL = 1e-12
# ḡ = g/(√f + ε) is ill-conditioned where a gradient entry passes through 0 with a fast β₂ (the
# betas=(0.5, 0.9) setting): rounding differences of 1e-16 between two correct implementations
# stay below 4e-16 for 20 steps but reach 1e-12 at 30 and 1e-11 at 40 (measured). So the
# comparisons run 20 steps.
STEPS = 20


# -- the algorithm box, typed line by line ------------------------------------------------------
def rms(x):
    return np.sqrt(np.mean(x * x))


def fadam_box(thetas, gradient, steps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, clip=1.0, p=0.5,
              weight_decay=0.1, maximize=False):
    """Hwang (2024), Algorithm 1, one parameter array at a time, float64, line by line as
    pytorch-optimizer's FAdam implements it with a fixed ε (not re-read from the paper's PDF):
    β̂₂ = β₂(1 − β₂^{t−1})/(1 − β₂^t); f ← β̂₂f + (1 − β̂₂)g²; ḡ ← g/(f^p + ε);
    ḡ ← ḡ/max(1, RMS(ḡ)/c); m ← β₁m + (1 − β₁)ḡ; ḡ_w ← θ/(f^p + ε);
    ḡ_w ← ḡ_w/max(1, RMS(ḡ_w)/c); θ ← θ − η(m + λḡ_w)."""
    b1, b2 = betas
    thetas = [t.copy() for t in thetas]
    m = [np.zeros_like(t) for t in thetas]
    f = [np.zeros_like(t) for t in thetas]
    for t in range(1, steps + 1):
        grads = gradient(thetas)
        b2_hat = b2 * (1 - b2 ** (t - 1)) / (1 - b2 ** t)
        for i, (theta, g) in enumerate(zip(thetas, grads)):
            if maximize:
                g = -g
            f[i] = b2_hat * f[i] + (1 - b2_hat) * g * g
            g_bar = g / (f[i] ** p + eps)
            g_bar = g_bar / max(1.0, rms(g_bar) / clip)
            m[i] = b1 * m[i] + (1 - b1) * g_bar
            g_w = theta / (f[i] ** p + eps)
            g_w = g_w / max(1.0, rms(g_w) / clip)
            thetas[i] = theta - lr * (m[i] + weight_decay * g_w)
    return thetas


# a least-squares problem with a matrix and a vector parameter (an affine map fitted to data)
_rng = np.random.default_rng(0)
X, Y = _rng.normal(size=(16, 3)), _rng.normal(size=(16, 2))
START = [_rng.normal(size=(3, 2)), _rng.normal(size=2)]


def gradient(params, scale=1.0):
    w, b = params
    r = X @ w + b - Y
    return [scale * X.T @ r / len(X), scale * r.mean(axis=0)]


def optlab_numpy(opt, steps, gradient=gradient, start=START):
    params, state = [p.copy() for p in start], opt.init(start)
    for _ in range(steps):
        params, state = opt.step(params, gradient(params), state)
    return params


def torch_params(start=START):
    return [torch.nn.Parameter(torch.tensor(p)) for p in start]


def run_torch(optimizer, params, steps, gradient=gradient):
    for _ in range(steps):
        grads = gradient([p.detach().numpy() for p in params])
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g)
        optimizer.step()
    return [p.detach().numpy() for p in params]


def max_relative_difference(ours, theirs):
    """max |ours − theirs| over each array, relative to that array's largest entry."""
    return max(float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for a, b in zip(ours, theirs))


SETTINGS = [
    dict(lr=0.05),
    dict(lr=0.05, clip=0.5),
    dict(lr=0.02, clip=0.3, weight_decay=0.5),
    dict(lr=0.05, betas=(0.5, 0.9), weight_decay=0.0),
    dict(lr=0.05, p=0.25, eps=1e-3),
    dict(lr=0.05, p=1.0, eps=1e-2, clip=2.0),
    dict(lr=0.05, maximize=True),
]


@pytest.mark.parametrize("kwargs", SETTINGS, ids=str)
def test_numpy_and_torch_paths_are_the_algorithm_box(kwargs):
    steps = STEPS
    box = fadam_box(START, gradient, steps, **kwargs)
    numpy_path = optlab_numpy(optlab.FAdam(**kwargs), steps)
    params = torch_params()
    torch_path = run_torch(optlab.torch_optimizer(optlab.FAdam(**kwargs), params), params, steps)
    assert max_relative_difference(numpy_path, box) < RTOL
    assert max_relative_difference(torch_path, box) < RTOL
    assert max_relative_difference(numpy_path, START) > 1e-3  # it moved


def test_clipping_is_exercised_by_the_settings():
    """The clip and the weight-decay clip both bind in the settings above (not a vacuous box)."""
    w = START[0]
    f = gradient(START)[0] ** 2  # f_1 = g_1² (β̂₂ = 0 at t = 1)
    assert rms(w / (np.sqrt(f) + 1e-8)) > 1.0  # the decay direction is clipped at c = 1
    assert rms(gradient(START)[0] / (np.sqrt(f) + 1e-8)) > 0.5  # ḡ is clipped at c = 0.5


# -- pytorch-optimizer's FAdam ---------------------------------------------------------------------
def reference(params, kwargs, **extra):
    extra = {"momentum_dtype": torch.float64, "fim_dtype": torch.float64,
             "eps_2": 1e6, **extra}  # eps_2·RMS(g) ≥ ε: its stabiliser is then ε^{2p}
    return ReferenceFAdam(params, **kwargs, **extra)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("kwargs", [k for k in SETTINGS if k.get("p", 0.5) == 0.5], ids=str)
def test_pytorch_optimizer_agrees_at_p_one_half_with_a_fixed_eps(kwargs, foreach):
    steps = STEPS
    params = torch_params()
    theirs = run_torch(reference(params, kwargs, foreach=foreach), params, steps)
    ours = optlab_numpy(optlab.FAdam(**kwargs), steps)
    assert max_relative_difference(ours, theirs) < RTOL


@pytest.mark.parametrize("p", [0.25, 1.0])
def test_pytorch_optimizer_adds_eps_to_the_power_2p(p):
    """Its stabiliser is ε^{2p}, the box's ε: equal after ε → ε^{2p}, and only then."""
    eps, steps = 1e-2, 30
    params = torch_params()
    theirs = run_torch(reference(params, dict(lr=0.05, p=p, eps=eps), foreach=False), params, steps)
    matched = optlab_numpy(optlab.FAdam(lr=0.05, p=p, eps=eps ** (2 * p)), steps)
    plain = optlab_numpy(optlab.FAdam(lr=0.05, p=p, eps=eps), steps)
    assert max_relative_difference(matched, theirs) < RTOL
    assert max_relative_difference(plain, theirs) > 1e-6


def test_pytorch_optimizer_adaptive_eps_is_min_of_eps_and_eps2_rms():
    """With its default eps_2 = 0.01 and small gradients, ε₂·RMS(g) < ε: pytorch-optimizer
    divides by f^p + (ε₂·RMS(g_t))^{2p}. optlab with that ε chosen anew each step (an ε
    schedule, through replace) is the same run; optlab with the fixed ε is not."""
    scale, steps, eps, eps_2 = 1e-7, 25, 1e-8, 0.01
    small = lambda params: gradient(params, scale)  # noqa: E731
    params = [torch.nn.Parameter(torch.tensor(START[0]))]
    theirs = run_torch(ReferenceFAdam(params, lr=0.05, eps=eps, momentum_dtype=torch.float64,
                                      fim_dtype=torch.float64, foreach=False),
                       params, steps, lambda ps: small([ps[0], START[1]])[:1])
    opt = optlab.FAdam(lr=0.05, eps=eps)
    x, state = START[0].copy(), opt.init(START[0])
    for _ in range(steps):
        g = small([x, START[1]])[0]
        x, state = opt.replace(eps=min(eps, eps_2 * rms(g))).step(x, g, state)
    assert eps_2 * rms(small(START)[0]) < eps  # the adaptive branch is the one taken
    assert max_relative_difference([x], theirs) < RTOL
    fixed = optlab_numpy(opt, steps, lambda ps: small([ps[0], START[1]])[:1], start=START[:1])
    assert max_relative_difference(fixed, theirs) > 1e-3


def test_pytorch_optimizer_keeps_float32_buffers_by_default():
    """momentum_dtype and fim_dtype default to float32 whatever the parameter's dtype; with a
    float64 parameter the momentum's lerp_ then fails (float32 buffer, float64 update): the
    comparisons above pass momentum_dtype=fim_dtype=torch.float64. optlab keeps its state in the
    parameter's dtype."""
    params = torch_params()
    ref = ReferenceFAdam(params, lr=0.05, eps_2=1e6, foreach=False)
    with pytest.raises(RuntimeError, match="dtype"):
        run_torch(ref, params, 1)
    assert ref.state[params[0]]["fim"].dtype == torch.float32
    assert optlab.FAdam().init(START[0])["fim"].dtype == np.float64


def test_pytorch_optimizer_counts_steps_per_group():
    """A parameter without a gradient on step 2: its group's count moves on, optlab's count for
    that parameter does not; β̂₂ then differs. Moving optlab's count on by hand agrees again."""
    steps = 6
    params = torch_params()
    ref = reference(params, dict(lr=0.05), foreach=False)
    opt = optlab.FAdam(lr=0.05)
    ours, state = [p.copy() for p in START], opt.init(START)
    caught_up = copy.deepcopy((ours, state))
    for k in range(steps):
        grads = gradient([p.detach().numpy() for p in params])
        if k == 1:
            grads[1] = None
        for p, g in zip(params, grads):
            p.grad = None if g is None else torch.tensor(g)
        ref.step()
        ours, state = opt.step(ours, grads, state)
        if k == 1:
            caught_up[1][1]["step"] += 1
        caught_up = opt.step(caught_up[0], grads, caught_up[1])
    theirs = [p.detach().numpy() for p in params]
    assert max_relative_difference(caught_up[0], theirs) < RTOL
    assert max_relative_difference(ours[:1], theirs[:1]) < RTOL  # the other parameter agrees
    assert max_relative_difference(ours[1:], theirs[1:]) > 1e-8


# -- facts derived a second way ---------------------------------------------------------------
def test_fisher_average_is_adams_bias_corrected_second_moment():
    """With β̂₂ = β₂(1 − β₂^{t−1})/(1 − β₂^t), f_t is Adam's v_t/(1 − β₂^t) exactly (SymPy,
    through the rule itself): three steps of the rule against the closed form of v̂₃."""
    g1, g2, g3, b1, b2 = sp.symbols("g1 g2 g3 beta1 beta2", positive=True)
    _, state = run_rule(optlab.FAdam(), [g1, g2, g3], betas=(b1, b2))
    v3 = (1 - b2) * (b2 ** 2 * g1 ** 2 + b2 * g2 ** 2 + g3 ** 2)  # Adam's EMA, unrolled
    assert sp.simplify(state["fim"] - v3 / (1 - b2 ** 3)) == 0
    assert state["step"] == 3


def test_without_momentum_clip_or_decay_fadam_is_adam_with_beta1_zero():
    """β₁ = 0, λ = 0, c = ∞, p = ½: m_t = ḡ_t = g_t/(√v̂_t + ε), which is Adam's step with
    β₁ = 0 (m = g, no bias correction left); Adam is checked against torch.optim elsewhere."""
    steps = 40
    fadam = optlab_numpy(optlab.FAdam(lr=0.05, betas=(0.0, 0.99), clip=1e300, weight_decay=0.0),
                         steps)
    adam = optlab_numpy(optlab.Adam(lr=0.05, betas=(0.0, 0.99)), steps)
    assert max_relative_difference(fadam, adam) < 1e-12


def test_first_step_moves_by_the_clipped_natural_gradient():
    """β₁ = 0, λ = 0: θ₁ − θ₀ = −η ḡ₁ with ḡ₁ = g/(|g| + ε) scaled to RMS min(c, RMS):
    RMS(θ₁ − θ₀)/η is c when the clip binds, and RMS(g/(|g| + ε)) ≈ 1 when it does not."""
    g = gradient(START)[0]
    for clip, expected in [(0.3, 0.3), (5.0, rms(g / (np.abs(g) + 1e-8)))]:
        opt = optlab.FAdam(lr=0.1, betas=(0.0, 0.999), clip=clip, weight_decay=0.0)
        x, _ = opt.step(START[0], g, opt.init(START[0]))
        assert rms(x - START[0]) / 0.1 == pytest.approx(expected, rel=1e-14)


def test_decay_alone_is_clipped_to_rms_c():
    """Zero gradient: f = 0, ḡ_w = θ/ε, whose RMS/c is huge, so ḡ_w becomes c·θ/RMS(θ) and the
    step is −η λ c θ / RMS(θ)."""
    lr, wd, clip = 0.1, 0.2, 0.7
    theta = START[0]
    opt = optlab.FAdam(lr=lr, weight_decay=wd, clip=clip)
    x, state = opt.step(theta, np.zeros_like(theta), opt.init(theta))
    np.testing.assert_allclose(x - theta, -lr * wd * clip * theta / rms(theta), rtol=1e-12)
    assert not state["momentum"].any()


def test_run_rule_with_numbers_is_the_numpy_path():
    """30-digit SymPy arithmetic through the rule (clip binding at step 1) = float64 NumPy."""
    opt = optlab.FAdam(lr=0.05, clip=0.5, weight_decay=0.3)
    grads = [0.3, -1.25, 0.5, 2.0, -0.75]
    thetas, _ = run_rule(opt, [sp.Float(g, 30) for g in grads], param=sp.Float(1, 30),
                         **{k: (tuple(sp.Float(repr(b), 30) for b in v) if isinstance(v, tuple)
                                else sp.Float(repr(v), 30) if isinstance(v, float) else v)
                            for k, v in opt.hyperparameters.items()})
    x, state = np.array(1.0), opt.init(np.array(1.0))
    for k, g in enumerate(grads, start=1):
        x, state = opt.step(x, np.array(g), state)
        assert float(thetas[k]) == pytest.approx(float(x), rel=1e-13)


# -- checks, the API (sweeps: test_sweep_property, every hyperparameter from five option rows) ---
@pytest.mark.parametrize("kwargs,message", [
    (dict(clip=0.0), r"Invalid clip value: 0.0 \(clip must be > 0\)"),
    (dict(clip=-1.0), r"clip must be > 0"),
    (dict(p=0.0), r"Invalid p value: 0.0 \(p must be > 0\)"),
    (dict(p=float("nan")), r"p must be > 0"),
    (dict(clip=np.array([1.0, -1.0])), r"Invalid clip value: -1.0"),
    (dict(eps=-1.0), r"Invalid epsilon value"), (dict(lr=-1.0), r"Invalid learning rate"),
    (dict(betas=(0.9, 1.0)), r"Invalid beta parameter at index 1"),
    (dict(weight_decay=-0.1), r"Invalid weight_decay value"),
])
def test_bad_arguments_name_the_argument_and_range(kwargs, message):
    with pytest.raises(ValueError, match=message):
        optlab.FAdam(**kwargs)


def test_defaults_are_pytorch_optimizers():
    import inspect

    theirs = inspect.signature(ReferenceFAdam).parameters
    for name, value in optlab.FAdam.defaults.items():
        assert theirs[name].default == value, name


def test_api():
    opt = optlab.FAdam(lr=0.01)
    assert optlab.FAdam.rule is optlab.fadam_update
    assert r"\hat\beta_2" in algorithm_box_latex(optlab.fadam_update)
    assert set(opt.init(np.zeros(3))) == {"step", "momentum", "fim"}
    with pytest.raises(TypeError, match="float hyperparameters"):
        optlab.torch_optimizer(optlab.FAdam(lr=np.array([0.1, 0.2])), torch_params())


def test_torch_optimizer_state_dict_round_trip():
    """A checkpoint taken after 10 steps resumes exactly where an uninterrupted run goes."""
    params = torch_params()
    whole = optlab.torch_optimizer(optlab.FAdam(lr=0.05, clip=0.5), params)
    run_torch(whole, params, 10)
    saved = copy.deepcopy(whole.state_dict())
    resumed_params = [torch.nn.Parameter(p.detach().clone()) for p in params]
    resumed = optlab.torch_optimizer(optlab.FAdam(lr=0.05, clip=0.5), resumed_params)
    resumed.load_state_dict(saved)
    a = run_torch(whole, params, 10)
    b = run_torch(resumed, resumed_params, 10)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
