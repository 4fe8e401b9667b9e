"""optlab.Cautious (Liang, Chen, Liu and Liu 2024) against the authors' C-AdamW and
pytorch-optimizer's cautious Lion, and against the mask's defining properties."""

import math

import numpy as np
import pytest
import sympy as sp
import torch
from pytorch_optimizer import Lion as ReferenceLion

import optlab
from optimizer_cases import assert_sweep_rows_equal_single_runs
from optlab._ops import add_, apply_weight_decay, ema_, zeros_like
from optlab.display import algorithm_box_latex
from optlab.symbolic import run_rule

RTOL = 1e-12


# -- the authors' C-AdamW (github.com/kyleliang919/C-Optim, c_adamw.py; MIT License, Copyright (c)
# 2024 Kaizhao Liang). Their class imports torch.distributed and the repository's opt_utils, so
# each step is copied here as a function of one parameter, its arguments renamed from `group`.
def c_adamw_step(p, grad, state, *, lr, betas, eps, weight_decay):
    """c_adamw.py at 2c0517c (2025-08-23), AdamW.step, the per-parameter (foreach=False) branch."""
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    beta1, beta2 = betas
    state["step"] += 1
    # apply weight decay
    if weight_decay > 0.0:
        p.add_(p, alpha=(-lr * weight_decay))
    exp_avg.mul_(beta1).add_(grad, alpha=(1.0 - beta1))
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
    denom = exp_avg_sq.sqrt().add_(eps)
    step_size = lr
    bias_correction1 = 1.0 - beta1 ** state["step"]
    bias_correction2 = 1.0 - beta2 ** state["step"]
    step_size = step_size * math.sqrt(bias_correction2) / bias_correction1
    mask = (exp_avg * grad > 0).to(grad.dtype)
    mask.div_(mask.mean().clamp_(min=1e-3))
    norm_grad = (exp_avg * mask) / denom
    p.add_(norm_grad, alpha=-step_size)


def c_adamw_foreach_step(X, G, M, V, *, lr, betas, eps, weight_decay, step):
    """c_adamw.py at 2c0517c, c_adamw_update_foreach_async (the default, foreach=True), for one
    tensor and without its @torch.compile and its final `yield`."""
    beta1, beta2 = betas
    M.lerp_(G, 1 - beta1)
    V.lerp_(G * G, 1 - beta2)
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    denom = V.sqrt() / math.sqrt(bias_correction2) + eps
    adj_lr = lr / bias_correction1
    mask = (M * G).gt(0.0).to(M.dtype)
    mask_mean = mask.mean().clamp(min=1e-3)
    M = M * mask
    M_div = M / denom
    X.mul_(1 - lr * weight_decay)
    M_div.mul_(adj_lr)
    M_div.div_(mask_mean)
    X.sub_(M_div)


def c_adamw_first_step(p, grad, state, *, lr, betas, eps, weight_decay):
    """c_adamw.py at fcfc4b7 (2024-11-12, the first release), AdamW.step per parameter: the
    mask scaled by numel/(sum + 1), the decay after the step."""
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    beta1, beta2 = betas
    state["step"] += 1
    exp_avg.mul_(beta1).add_(grad, alpha=(1.0 - beta1))
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
    denom = exp_avg_sq.sqrt().add_(eps)
    step_size = lr
    bias_correction1 = 1.0 - beta1 ** state["step"]
    bias_correction2 = 1.0 - beta2 ** state["step"]
    step_size = step_size * math.sqrt(bias_correction2) / bias_correction1
    mask = (exp_avg * grad > 0).to(grad.dtype)
    mask = mask * (mask.numel() / (mask.sum() + 1))
    norm_grad = (exp_avg * mask) / denom
    p.add_(norm_grad, alpha=-step_size)
    if weight_decay > 0.0:
        p.add_(p, alpha=(-lr * weight_decay))


# a least-squares problem with a matrix and a vector parameter
_rng = np.random.default_rng(1)
X, Y = _rng.normal(size=(16, 3)), _rng.normal(size=(16, 2))
START = [_rng.normal(size=(3, 2)), _rng.normal(size=2)]


def gradient(params):
    w, b = params
    r = X @ w + b - Y
    return [X.T @ r / len(X), r.mean(axis=0)]


def run_numpy(opt, steps, start=START, schedule=None):
    params, state = [p.copy() for p in start], opt.init(start)
    for t in range(1, steps + 1):
        stepper = opt if schedule is None else schedule(opt, t)
        params, state = stepper.step(params, gradient(params), state)
    return params


def run_reference(step, steps, **kwargs):
    """`step` (one of the authors' functions) on each parameter of the problem."""
    params = [torch.tensor(p) for p in START]
    states = [{"step": 0, "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
              for p in params]
    for _ in range(steps):
        grads = gradient([p.numpy() for p in params])
        for p, g, s in zip(params, grads, states):
            step(p, torch.tensor(g), s, **kwargs)
    return [p.numpy() for p in params]


def max_relative_difference(ours, theirs):
    """max |ours − theirs| over each array, relative to that array's largest entry."""
    return max(float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for a, b in zip(ours, theirs))


STEPS = 40
ADAMW = dict(lr=0.02, betas=(0.9, 0.999), weight_decay=0.1)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_authors_default_foreach_c_adamw(weight_decay):
    """Their default path puts ε after the bias correction, as torch.optim.AdamW: equal to
    Cautious(AdamW, rescale="mean") step for step."""
    kwargs = dict(ADAMW, weight_decay=weight_decay, eps=1e-6)
    params = [torch.tensor(p) for p in START]
    M = [torch.zeros_like(p) for p in params]
    V = [torch.zeros_like(p) for p in params]
    for step in range(1, STEPS + 1):
        grads = gradient([p.numpy() for p in params])
        for p, g, m, v in zip(params, grads, M, V):
            c_adamw_foreach_step(p, torch.tensor(g), m, v, step=step, **kwargs)
    ours = run_numpy(optlab.Cautious(optlab.AdamW(**kwargs), rescale="mean"), STEPS)
    assert max_relative_difference(ours, [p.numpy() for p in params]) < RTOL


def test_authors_per_parameter_c_adamw_adds_eps_before_bias_correction():
    """Their foreach=False path divides by √v + ε and multiplies by √(1 − β₂ᵗ)/(1 − β₁ᵗ) (the
    Hugging Face AdamW form): that is optlab's AdamW with ε_t = ε/√(1 − β₂ᵗ) at step t, an ε
    schedule; with the fixed ε it is a different run."""
    kwargs = dict(ADAMW, eps=1e-3)
    theirs = run_reference(c_adamw_step, STEPS, **kwargs)
    opt = optlab.Cautious(optlab.AdamW(**kwargs), rescale="mean")
    eps_t = lambda o, t: o.replace(eps=1e-3 / math.sqrt(1 - 0.999 ** t))  # noqa: E731
    assert max_relative_difference(run_numpy(opt, STEPS, schedule=eps_t), theirs) < RTOL
    assert max_relative_difference(run_numpy(opt, STEPS), theirs) > 1e-4


def test_authors_first_release_decays_after_the_step():
    """The first C-AdamW (with the count d/(nnz + 1)) decayed θ after the masked step:
    (θ − s φ⊙u)(1 − γλ). That is Cautious(AdamW without decay, "count") followed by the decay
    (a composition, checked here); optlab decays first, θ(1 − γλ) − s φ⊙u, as the authors do
    since 2024-11-29, which differs by γλ·s·φ⊙u."""
    kwargs = dict(ADAMW, eps=1e-3)
    theirs = run_reference(c_adamw_first_step, STEPS, **kwargs)
    eps_t = lambda t: 1e-3 / math.sqrt(1 - 0.999 ** t)  # noqa: E731  (as in the test above)
    no_decay = optlab.Cautious(optlab.AdamW(**{**kwargs, "weight_decay": 0.0}), rescale="count")
    params, state = [p.copy() for p in START], no_decay.init(START)
    for t in range(1, STEPS + 1):
        params, state = no_decay.replace(eps=eps_t(t)).step(params, gradient(params), state)
        params = [p * (1 - kwargs["lr"] * kwargs["weight_decay"]) for p in params]
    assert max_relative_difference(params, theirs) < RTOL
    decay_first = optlab.Cautious(optlab.AdamW(**kwargs), rescale="count")
    ours = run_numpy(decay_first, STEPS, schedule=lambda o, t: o.replace(eps=eps_t(t)))
    assert 1e-6 < max_relative_difference(ours, theirs) < 1e-2  # 1.2e-3 after 40 steps


# -- pytorch-optimizer's cautious Lion, through a Lion written here as an optlab optimizer -------
def lion_update(param, grad, state, *, lr, betas, weight_decay, decoupled_weight_decay, maximize):
    """Lion (Chen et al. 2023) as pytorch-optimizer steps it: c = lerp(m, g, 1 − β₁),
    θ ← θ − γ sign(c), m ← lerp(m, g, 1 − β₂)."""
    beta1, beta2 = betas
    state["step"] += 1
    g = -grad if maximize else grad
    g = apply_weight_decay(param, g, lr, weight_decay, decoupled_weight_decay)
    m = state["exp_avg"]
    if torch.is_tensor(m):
        sign = torch.sign(m.lerp(g, 1 - beta1))
    else:
        sign = np.sign(m + (1 - beta1) * (g - m))
    ema_(m, g, beta2)
    add_(param, sign, -lr)


class Lion(optlab.Optimizer):
    """An optimizer optlab does not have, defined outside the package: Cautious must wrap it too."""

    rule = staticmethod(lion_update)
    defaults = dict(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, decoupled_weight_decay=True,
                    maximize=False)

    @staticmethod
    def _check(h):
        return dict(h)

    def init_leaf(self, param):
        return {"step": 0, "exp_avg": zeros_like(param)}


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.01), dict(lr=0.01, weight_decay=0.5), dict(lr=0.01, weight_decay=0.5,
                                                         decoupled_weight_decay=False),
    dict(lr=0.01, maximize=True, weight_decay=0.3, decoupled_weight_decay=False),
], ids=str)
def test_pytorch_optimizer_cautious_lion(kwargs):
    """pytorch-optimizer scales the mask by numel/(nnz + 1) ("count"); with L2 decay it compares
    the update with g + λθ (its apply_weight_decay adds λθ to the gradient in place first)."""
    tensors = [torch.nn.Parameter(torch.tensor(p)) for p in START]
    ref = ReferenceLion(tensors, lr=kwargs["lr"], weight_decay=kwargs.get("weight_decay", 0.0),
                        weight_decouple=kwargs.get("decoupled_weight_decay", True),
                        maximize=kwargs.get("maximize", False), cautious=True, foreach=False)
    for _ in range(STEPS):
        for p, g in zip(tensors, gradient([t.detach().numpy() for t in tensors])):
            p.grad = torch.tensor(g)
        ref.step()
    theirs = [t.detach().numpy() for t in tensors]
    ours = run_numpy(optlab.Cautious(Lion(**kwargs), rescale="count"), STEPS)
    plain = run_numpy(Lion(**kwargs), STEPS)
    assert max_relative_difference(ours, theirs) < RTOL
    assert max_relative_difference(plain, theirs) > 1e-3  # the mask did something


# -- the mask's defining properties ---------------------------------------------------------------
def adam_state_after(steps, rng):
    """An Adam state after `steps` random gradients, and the next gradient: signs then disagree
    between m_t and g_t on some coordinates."""
    opt = optlab.Adam(lr=0.05)
    x = rng.normal(size=(5, 4))
    state = opt.init(x)
    for _ in range(steps):
        x, state = opt.step(x, rng.normal(size=x.shape), state)
    return x, state, rng.normal(size=x.shape)


def test_disagreeing_coordinates_do_not_move_and_the_others_move_as_the_rule_does():
    """Independently of the wrapper's test on θ' − θ: the authors' criterion m_t ⊙ g_t > 0,
    with m_t from the unmasked rule's own state, selects what moves (rescale="none")."""
    x, state, g = adam_state_after(6, np.random.default_rng(2))
    base = optlab.Adam(lr=0.05)
    base_x, base_state = base.step(x, g, state)
    ours, our_state = optlab.Cautious(base, rescale="none").step(x, g, state)
    agree = base_state["exp_avg"] * g > 0
    assert 0 < agree.sum() < agree.size  # both kinds of coordinate are present
    np.testing.assert_array_equal(ours[~agree], x[~agree])
    np.testing.assert_allclose(ours[agree], base_x[agree], rtol=1e-15, atol=0)
    for key in base_state:  # the rule's state is the rule's: the mask touches θ only
        np.testing.assert_array_equal(np.asarray(our_state[key]), np.asarray(base_state[key]))


@pytest.mark.parametrize("rescale", ["count", "mean"])
def test_rescale_counts_the_kept_coordinates(rescale):
    """Kept coordinates move by s·(θ' − θ), s = d/(k + 1) or 1/max(k/d, 10⁻³), k of d kept."""
    x, state, g = adam_state_after(6, np.random.default_rng(2))
    base = optlab.Adam(lr=0.05)
    base_x, base_state = base.step(x, g, state)
    agree = base_state["exp_avg"] * g > 0
    k, d = int(agree.sum()), agree.size
    scale = d / (k + 1) if rescale == "count" else 1 / max(k / d, 1e-3)
    ours, _ = optlab.Cautious(base, rescale=rescale).step(x, g, state)
    np.testing.assert_allclose(ours - x, np.where(agree, scale * (base_x - x), 0.0),
                               rtol=1e-13, atol=1e-17)


@pytest.mark.parametrize("base", [optlab.Adam(lr=0.05), optlab.SGD(lr=0.05, momentum=0.9),
                                  optlab.AdamW(lr=0.05, weight_decay=0.5),
                                  optlab.FAdam(lr=0.05, weight_decay=0.0)], ids=repr)
def test_when_all_signs_agree(base):
    """A first step (m₁ ∝ g₁, b₁ = g₁, ḡ₁ ∝ g₁): every sign agrees, so "mean" is the rule's
    own step and "count" that step scaled by d/(d + 1)."""
    x0 = START[0]
    g = gradient(START)[0]
    ref, _ = base.step(x0, g, base.init(x0))
    mean, _ = optlab.Cautious(base, rescale="mean").step(x0, g, base.init(x0))
    count, _ = optlab.Cautious(base, rescale="count").step(x0, g, base.init(x0))
    np.testing.assert_allclose(mean, ref, rtol=1e-15, atol=0)
    # decoupled decay is applied outside the mask, unscaled
    decayed = x0 * (1 - 0.05 * 0.5) if base.hyperparameters.get("decoupled_weight_decay") else x0
    np.testing.assert_allclose(count - decayed, (ref - decayed) * x0.size / (x0.size + 1),
                               rtol=1e-13)


def test_exactly_the_rule_when_signs_agree_and_steps_are_small():
    """θ + (θ' − θ) is θ' to the bit when θ' − θ is exact (Sterbenz: θ'/θ in [½, 2])."""
    base = optlab.Adam(lr=1e-3)
    x0 = START[0]
    g = gradient(START)[0]
    ref, _ = base.step(x0, g, base.init(x0))
    ours, _ = optlab.Cautious(base, rescale="mean").step(x0, g, base.init(x0))
    np.testing.assert_array_equal(ours, ref)


# -- on an ill-conditioned quadratic ---------------------------------------------------------
_Q = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
A = _Q @ np.diag([1.0, 10.0, 100.0]) @ _Q.T
X0 = np.array([1.0, -1.0, 0.5])


def quadratic_run(opt, steps=500):
    x, state = X0.copy(), opt.init(X0)
    losses, descent = [0.5 * x @ A @ x], []
    for _ in range(steps):
        g = A @ x
        new, state = opt.step(x, g, state)
        descent.append(g @ (x - new))  # > 0: the step points downhill at x
        x = new
        losses.append(0.5 * x @ A @ x)
    losses = np.array(losses)
    return losses, np.array(descent), int(np.argmax(losses < 1e-8))


def test_cautious_heavy_ball_and_adam_on_a_quadratic():
    """f = ½θᵀAθ, A's eigenvalues 1, 10, 100 in a rotated basis. Every cautious step has
    ⟨g, θ_t − θ_{t+1}⟩ ≥ 0 (the base rules' steps do not); the heavy ball reaches f < 1e-8 in
    120 steps instead of 188 and its loss rises on 103 steps instead of 242; Adam (lr 0.05) gets
    there in 231 steps with "mean" but 352 with "count", against 254 (measured)."""
    results = {}
    for name, base in [("momentum", optlab.SGD(lr=0.015, momentum=0.9)),
                       ("adam", optlab.Adam(lr=0.05))]:
        results[name, "base"] = quadratic_run(base)
        for rescale in ("count", "mean"):
            results[name, rescale] = quadratic_run(optlab.Cautious(base, rescale=rescale))
    for (name, kind), (losses, descent, hit) in results.items():
        assert losses[-1] < 1e-15 and hit > 0
        if kind != "base":
            assert descent.min() >= 0
    assert results["momentum", "base"][1].min() < -1 and results["adam", "base"][1].min() < -0.1
    hits = {key: value[2] for key, value in results.items()}
    rises = {key: int((np.diff(value[0]) > 0).sum()) for key, value in results.items()}
    assert (hits["momentum", "base"], hits["momentum", "count"]) == (188, 120)
    assert (rises["momentum", "base"], rises["momentum", "count"]) == (242, 103)
    assert (hits["adam", "base"], hits["adam", "mean"], hits["adam", "count"]) == (254, 231, 352)


# -- sweeps, both paths, the API -------------------------------------------------------------------
@pytest.mark.parametrize("rescale", ["count", "mean"])
@pytest.mark.parametrize("base,name,values", [
    (optlab.Adam(), "lr", [0.0, 0.01, 0.1]),
    (optlab.FAdam(lr=0.05), "clip", [0.1, 1.0, 1e9]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_sweep_rows_equal_single_runs_bit_for_bit(base, name, values, rescale):
    """Each row's mask is counted over its own row (d = 4, not 12). Cautious AdamW and SGD are
    rows of optimizer_cases, swept in every hyperparameter by test_sweep_property."""
    assert_sweep_rows_equal_single_runs(
        optlab.Cautious(base.replace(**{name: np.array(values)[:, None]}), rescale=rescale),
        [optlab.Cautious(base.replace(**{name: value}), rescale=rescale) for value in values],
        np.linspace(-1.0, 2.0, 4), lambda x: np.sin(3 * x) + 0.5 * x, 30)


@pytest.mark.parametrize("base", [optlab.AdamW(lr=0.02, weight_decay=0.1),
                                  optlab.SGD(lr=0.02, momentum=0.9, weight_decay=0.1),
                                  optlab.FAdam(lr=0.02, clip=0.5)], ids=repr)
def test_torch_path_is_the_numpy_path(base):
    opt = optlab.Cautious(base)
    tensors = [torch.nn.Parameter(torch.tensor(p)) for p in START]
    torch_opt = optlab.torch_optimizer(opt, tensors)
    for _ in range(STEPS):
        for p, g in zip(tensors, gradient([t.detach().numpy() for t in tensors])):
            p.grad = torch.tensor(g)
        torch_opt.step()
    assert max_relative_difference([t.detach().numpy() for t in tensors],
                                   run_numpy(opt, STEPS)) < RTOL


def test_run_rule_with_numbers_is_the_numpy_path():
    """The wrapper runs on SymPy numbers too (a 0-d parameter: d = 1, s = ½ when kept)."""
    opt = optlab.Cautious(optlab.Adam(lr=0.1))
    grads = [0.3, -1.25, 0.5, 2.0, -0.75, 0.125]
    thetas, _ = run_rule(opt, [sp.Float(g, 30) for g in grads], param=sp.Float(1, 30))
    x, state = np.array(1.0), opt.init(np.array(1.0))
    for k, g in enumerate(grads, start=1):
        x, state = opt.step(x, np.array(g), state)
        assert float(thetas[k]) == pytest.approx(float(x), rel=1e-13)


def test_api():
    opt = optlab.Cautious(optlab.AdamW(lr=0.01, weight_decay=0.1), rescale="mean")
    assert type(opt).__name__ == "CautiousAdamW" and isinstance(opt, optlab.CautiousOptimizer)
    assert repr(opt) == ("Cautious(AdamW(lr=0.01, betas=(0.9, 0.999), eps=1e-08, "
                         "weight_decay=0.1, amsgrad=False, maximize=False), rescale='mean')")
    assert opt.base.hyperparameters == optlab.AdamW(lr=0.01, weight_decay=0.1).hyperparameters
    assert type(optlab.Cautious(optlab.AdamW())) is type(opt)  # one class per wrapped class
    # (copies and pickles: test_contract, for the rows of optimizer_cases)
    assert opt.replace(lr=0.5).hyperparameters["lr"] == 0.5
    assert set(opt.init(np.zeros(2))) == set(optlab.AdamW().init(np.zeros(2)))
    assert r"\phi_t" in algorithm_box_latex(type(opt).rule)
    amsgrad = optlab.Cautious(optlab.AMSGrad())
    assert "max_exp_avg_sq" in amsgrad.init(np.zeros(2))


@pytest.mark.parametrize("call,error,message", [
    (lambda: optlab.Cautious(optlab.Adam(), rescale="median"), ValueError,
     r"Invalid rescale value: 'median' \(rescale must be one of 'count', 'mean', 'none'\)"),
    (lambda: type(optlab.Cautious(optlab.Adam()))(lr=-1.0), ValueError, "Invalid learning rate"),
    (lambda: optlab.Cautious(optlab.Adam()).replace(betas=(0.9, 1.0)), ValueError,
     "Invalid beta parameter at index 1"),
    (lambda: optlab.Cautious(optlab.Cautious(optlab.Adam())), TypeError, "cautious already"),
    (lambda: optlab.Cautious(torch.optim.SGD), TypeError, "optlab optimizer"),
])
def test_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


# -- optlab.train: FAdam and Cautious are not elementwise (an RMS, a count per run) --------------
def _train_rows(make, lrs, seeds):
    """max relative difference between train_batched's rows and their torch_optimizer runs."""
    from optlab.datasets import load_digits
    from optlab.models import LogisticRegression
    from optlab.train import train_batched
    from test_train import reference

    data, model = load_digits(), LogisticRegression(64, 10)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train_batched(make(lrs), model, data, seeds, epochs=1, batch_size=128)
        worst = 0.0
        for i, seed in enumerate(seeds):
            lr = float(np.broadcast_to(lrs, seeds.shape)[i])
            net = reference(model, data, int(seed),
                            lambda ps: optlab.torch_optimizer(make(lr), ps), 1, 128)[0]
            for key, value in net.state_dict().items():
                worst = max(worst, float((result.params[key][i] - value).abs().max()
                                         / value.abs().max()))
        return worst
    finally:
        torch.set_num_threads(threads)


TRAINED = [lambda lr: optlab.FAdam(lr=lr, clip=0.5),
           lambda lr: optlab.Cautious(optlab.AdamW(lr=lr, weight_decay=0.1))]


@pytest.mark.parametrize("make", TRAINED, ids=["FAdam", "CautiousAdamW"])
def test_train_batched_rows_with_an_lr_per_row(make):
    """An lr array gives the stacked parameters their row axis: each row is its own run."""
    assert _train_rows(make, np.array([0.01, 0.03]), np.array([0, 7])) < 1e-10


@pytest.mark.parametrize("make", TRAINED, ids=["FAdam", "CautiousAdamW"])
def test_train_batched_rows_with_one_lr_and_several_seeds(make):
    """One float lr: train_batched still gives the rule one lr per row, so that a rule reducing
    over a run (FAdam's RMS, the cautious count) does not reduce across the stacked rows."""
    assert _train_rows(make, 0.01, np.array([0, 7])) < 1e-10
