"""The NumPy path without copies: ``opt.step_`` updates params and state in place and gives
``step``'s numbers to the last bit; ``optlab.run.trajectory``, which now uses it, gives the
numbers the copying loop gave (that loop is kept below as the reference)."""

import copy

import numpy as np
import pytest

import optlab
from optimizer_cases import CASES, case_id, make
from optlab import schedules
from optlab.objectives import Beale, Quadratic, Rosenbrock
from optlab.run import _ok, trajectory


def tree(rng, dtype):
    """A parameter tree with a matrix, a vector in a list and a 0-d array."""
    return {"w": rng.normal(size=(3, 4)).astype(dtype), "b": [rng.normal(size=4).astype(dtype)],
            "s": np.array(0.3, dtype=dtype)}


def grads_at(params):
    return {"w": np.sin(3 * params["w"]) + params["w"], "b": [np.cos(params["b"][0])],
            "s": 2 * params["s"]}


def leaves(node):
    if isinstance(node, dict):
        return [leaf for key in sorted(node) for leaf in leaves(node[key])]
    if isinstance(node, (list, tuple)):
        return [leaf for child in node for leaf in leaves(child)]
    return [node]


def assert_same_bits(a, b):
    for x, y in zip(leaves(a), leaves(b), strict=True):
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            assert np.asarray(x).dtype == np.asarray(y).dtype
            np.testing.assert_array_equal(x, y)
        else:
            assert x == y or (x is None and y is None)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_step_in_place_equals_step_bit_for_bit(case, dtype):
    name, kwargs = case
    opt = make(name, **kwargs)
    pure = tree(np.random.default_rng(0), dtype)
    in_place = copy.deepcopy(pure)
    pure_state, state = opt.init(pure), opt.init(in_place)
    arrays = [id(a) for a in leaves(in_place)]
    for _ in range(25):
        pure, pure_state = opt.step(pure, grads_at(pure), pure_state)
        returned = opt.step_(in_place, grads_at(in_place), state)
        assert returned[0] is in_place and returned[1] is state
    assert [id(a) for a in leaves(in_place)] == arrays  # the caller's arrays, updated
    assert_same_bits(in_place, pure)
    assert_same_bits(state, pure_state)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_sweep_in_place_equals_sweep(case):
    """A sweep (lr one per row) stepped in place equals the pure sweep, and a None gradient
    leaves its parameter and state alone."""
    name, kwargs = case
    opt = make(name, **{**kwargs, "lr": np.array([[0.001], [0.01], [0.05]])})
    x0 = np.tile(np.linspace(-1.0, 2.0, 5), (3, 1))
    params, pure = [x0.copy(), x0[:, :2].copy()], [x0.copy(), x0[:, :2].copy()]
    state, pure_state = opt.init(params), opt.init(pure)
    for t in range(20):
        g = [np.sin(3 * params[0]) + params[0], None if t % 3 == 0 else np.cos(params[1])]
        pure, pure_state = opt.step(pure, g, pure_state)
        opt.step_(params, g, state)
    assert_same_bits(params, pure)
    assert_same_bits(state, pure_state)


def test_gradient_that_is_the_parameter_itself():
    """∇(½‖x‖²) = x: an objective may hand back x itself; step_ must read the gradient as it
    was."""
    for opt in (optlab.AdamW(lr=0.1, weight_decay=0.5), optlab.SGD(lr=0.1, momentum=0.9)):
        x, y = np.array([1.0, -2.0, 3.0]), np.array([1.0, -2.0, 3.0])
        state, reference = opt.init(x), opt.init(y)
        for _ in range(5):
            opt.step_(x, x, state)
            y, reference = opt.step(y, y.copy(), reference)
        np.testing.assert_array_equal(x, y)


def snapshot(params, state):
    return copy.deepcopy((params, state))


def assert_unchanged(params, state, before):
    assert_same_bits((params, state), before)


def stepped(opt, dtype=np.float64):
    """Params and a state that has taken two steps (momentum buffers exist, counts are 2)."""
    params = tree(np.random.default_rng(1), dtype)
    state = opt.init(params)
    for _ in range(2):
        opt.step_(params, grads_at(params), state)
    return params, state


def bad_inputs():
    """(description, function of (params, state) -> the arguments of step_, error, match)."""
    def with_grad(**change):
        return lambda p, s: (p, {**grads_at(p), **change}, s)

    def with_state(key, value):
        def make_args(p, s):
            s = {**s, "b": [{**s["b"][0], key: value}]}
            return p, grads_at(p), s
        return make_args

    return [
        ("gradient of another shape", with_grad(w=np.ones((4, 3))), ValueError, "shape"),
        ("integer gradient", with_grad(b=[np.ones(4, dtype=int)]), TypeError, "dtype"),
        ("NaN gradient", with_grad(b=[np.array([0.0, np.nan, 0.0, 0.0])]), FloatingPointError,
         "NaN"),
        ("grads of another structure", lambda p, s: (p, [grads_at(p)["w"]], s), ValueError,
         "structure"),
        ("a Python float parameter", lambda p, s: ({**p, "s": 0.3}, grads_at(p), s), TypeError,
         "in place"),
        ("a read-only parameter",
         lambda p, s: ({**p, "s": np.broadcast_to(p["s"], ())}, grads_at(p), s), ValueError,
         "read-only"),
        ("two parameters sharing memory",
         lambda p, s: ({**p, "b": [p["w"][0]]}, grads_at(p), s), ValueError, "share memory"),
        ("state of another optimizer", lambda p, s: (p, grads_at(p), {**s, "s": {"step": 2}}),
         ValueError, "lacks"),
        ("a state array of another shape", with_state("exp_avg", np.zeros(3)), ValueError,
         "shape"),
        ("a read-only state array",
         with_state("exp_avg", np.broadcast_to(np.zeros(1), (4,))), ValueError, "read-only"),
    ]


@pytest.mark.parametrize("bad,check_finite", [
    (bad, check_finite) for bad in bad_inputs() for check_finite in (True, False)
    if check_finite or bad[2] is not FloatingPointError  # unchecked, a NaN is the caller's
], ids=lambda v: v[0] if isinstance(v, tuple) else f"check_finite={v}")
def test_bad_input_raises_before_anything_changes(bad, check_finite):
    _, arguments, error, match = bad
    opt = optlab.Adam(lr=0.1, amsgrad=True, weight_decay=0.1)
    params, state = stepped(opt)
    before = snapshot(params, state)
    args = arguments(params, state)
    with pytest.raises(error, match=match):
        opt.step_(*args, check_finite=check_finite)
    assert_unchanged(params, state, before)
    np.testing.assert_array_equal(params["w"], before[0]["w"])


def test_a_step_that_overflows_is_undone():
    """The second moment of 1e200² overflows in the last leaf ("s"): every leaf, the earlier
    ones already stepped, is put back, the same array objects holding their old values."""
    opt = optlab.Adam(lr=1e-3)
    params, state = stepped(opt)
    before = snapshot(params, state)
    objects = [id(a) for a in leaves((params, state)) if isinstance(a, np.ndarray)]
    g = grads_at(params)
    g["s"] = np.array(1e200)  # "s" is stepped last (the dict's order: w, b, s)
    with pytest.raises(FloatingPointError, match=r"params\['s'\] or its state non-finite"):
        opt.step_(params, g, state)
    assert_unchanged(params, state, before)
    assert [id(a) for a in leaves((params, state)) if isinstance(a, np.ndarray)] == objects
    # without the check the caller gets what the rule computed, as step gives it
    pure, pure_state = opt.step(params, g, state, check_finite=False)
    opt.step_(params, g, state, check_finite=False)
    assert_same_bits((params, state), (pure, pure_state))


def test_momentum_buffer_made_by_a_failed_step_is_removed():
    """SGD's buffer starts as None and is made by the first step: a failed first step leaves
    None behind, not a half-made buffer."""
    opt = optlab.SGD(lr=1e300, momentum=0.9)
    x = np.array([1.0, 2.0])
    state = opt.init(x)
    with pytest.raises(FloatingPointError):
        opt.step_(x, np.array([1e300, 1.0]), state)
    assert state == {"step": 0, "momentum_buffer": None}
    np.testing.assert_array_equal(x, [1.0, 2.0])


# -- trajectory: the copying loop it replaced, as the reference ---------------------------------
def reference_trajectory(opt, objective, x0, steps, *, grad_noise=None, seed=None,
                         lr_schedule=None, blowup=1e12):
    """optlab.run.trajectory as it was before step_ (pure steps, np.where every step)."""
    x0 = np.asarray(x0, dtype=float)
    if isinstance(lr_schedule, schedules.Schedule):
        schedule, base_lr = lr_schedule, opt.hyperparameters["lr"]
        lr_schedule = lambda t: schedule(base_lr, t - 1)  # noqa: E731
    shapes = [x0.shape] + [v.shape for value in opt.hyperparameters.values()
                           for v in (value if isinstance(value, tuple) else (value,))
                           if isinstance(v, np.ndarray)]
    if lr_schedule is not None:
        shapes.append(np.shape(lr_schedule(1)))
    shape = np.broadcast_shapes(*shapes)
    x = np.broadcast_to(x0, shape).copy()
    rng = np.random.default_rng(seed) if grad_noise is not None else None
    xs = np.empty((steps + 1, *shape))
    values = np.empty((steps + 1, *shape[:-1]))
    diverged_at = np.full(shape[:-1], -1)
    with np.errstate(all="ignore"):
        f = np.asarray(objective.value(x))
        limit = np.inf if blowup is None else blowup * (1 + np.abs(f))
        bad = ~_ok(x, f, limit)
        diverged_at[bad] = 0
        frozen = bad
        xs[0], values[0] = x, f
        state = opt.init(x)
        for t in range(1, steps + 1):
            g = objective.grad(x)
            if rng is not None:
                g = g + grad_noise * rng.standard_normal(g.shape)
            bad = ~frozen & ~np.isfinite(g).all(-1)
            diverged_at[bad] = t
            frozen = frozen | bad
            g = np.where(frozen[..., None], 0.0, g)
            step_opt = opt if lr_schedule is None else opt.replace(lr=lr_schedule(t))
            x_new, state = step_opt.step(x, g, state, check_finite=False)
            x_new = np.where(frozen[..., None], x, x_new)
            f_new = np.asarray(objective.value(x_new))
            bad = ~frozen & ~_ok(x_new, f_new, limit)
            diverged_at[bad] = t
            frozen = frozen | bad
            x = np.where(frozen[..., None], x, x_new)
            f = np.where(frozen, values[t - 1], f_new)
            xs[t], values[t] = x, f
    return xs, values, diverged_at


class NaNValley(Quadratic):
    """A quadratic whose gradient is NaN where some |xᵢ| > 3: rows diverge by their gradient."""

    def _grad(self, x):
        g = super()._grad(x)
        return np.where(np.abs(x).max(-1, keepdims=True) > 3, np.nan, g)


class Identity(Quadratic):
    """f = ½‖x‖², whose gradient is handed back as x itself (the same array)."""

    def _grad(self, x):
        return x


LRS = np.geomspace(1e-3, 3.0, 24)[:, None]
TRAJECTORIES = {
    "adam-rosenbrock-sweep": (optlab.Adam(lr=LRS), Rosenbrock(), [-1.0, 1.0], 200, {}),
    "momentum-rosenbrock-blowups": (optlab.Momentum(lr=LRS / 100, momentum=0.9), Rosenbrock(),
                                    [-1.2, 1.0], 150, {}),
    "nadam-betas-sweep-low-blowup": (
        optlab.NAdam(lr=LRS, betas=(np.linspace(0.0, 0.99, 24)[:, None], 0.999)), Rosenbrock(),
        [-1.0, 1.0], 120, dict(blowup=1e3)),
    "rmsprop-beale-noise": (optlab.RMSprop(lr=LRS[::4] / 10), Beale(), [1.0, 1.0], 150,
                            dict(grad_noise=0.1, seed=3)),
    "gd-nan-gradients": (optlab.GD(lr=LRS / 3), NaNValley(np.diag([1.0, 4.0])), [1.0, 1.0], 60,
                         dict(blowup=None)),
    "adagrad-identity-gradient": (optlab.Adagrad(lr=LRS), Identity(np.eye(2)), [1.0, -2.0], 40,
                                  {}),
    "adam-single-run": (optlab.Adam(lr=0.05), Beale(), [1.0, 1.0], 200, {}),
    "gd-single-run-diverges": (optlab.GD(lr=0.02), Rosenbrock(), [-1.2, 1.0], 50, {}),
    "adamw-cosine-schedule": (optlab.AdamW(lr=LRS[::3]), Rosenbrock(), [-1.0, 1.0], 100,
                              dict(lr_schedule=schedules.CosineAnnealingLR(T_max=100))),
    "sgd-callable-schedule": (optlab.SGD(lr=0.001, momentum=0.5), Rosenbrock(), [-1.0, 1.0],
                              60, dict(lr_schedule=lambda t: 1e-3 / np.sqrt(t))),
}


@pytest.mark.parametrize("name", TRAJECTORIES)
def test_trajectory_equals_the_copying_loop(name):
    opt, objective, x0, steps, kwargs = TRAJECTORIES[name]
    ours = trajectory(opt, objective, np.array(x0), steps, **kwargs)
    xs, values, diverged_at = reference_trajectory(opt, objective, np.array(x0), steps, **kwargs)
    np.testing.assert_array_equal(ours.xs, xs)
    np.testing.assert_array_equal(ours.values, values)
    np.testing.assert_array_equal(ours.diverged_at, diverged_at)


def test_trajectories_above_cross_the_branches():
    """The table above is worth its time only if its runs diverge, by value and by gradient."""
    runs = {name: trajectory(o, f, np.array(x0), n, **k)
            for name, (o, f, x0, n, k) in TRAJECTORIES.items()}
    assert 0 < runs["momentum-rosenbrock-blowups"].diverged.sum() < len(LRS)
    assert 0 < runs["gd-nan-gradients"].diverged.sum() < len(LRS)
    assert runs["nadam-betas-sweep-low-blowup"].diverged.any()
    assert runs["gd-single-run-diverges"].diverged is True
