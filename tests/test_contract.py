"""The contract chapters rely on: errors, purity, trees, sweeps, presets, state hand-over."""

import copy
import re

import numpy as np
import pytest
import torch

import optlab
from optimizer_cases import CASES, TORCH, assert_sweep_rows_equal_single_runs, case_id, make

# (optimizer, bad arguments): torch rejects each with a ValueError; optlab must too, with a
# message that starts with torch's own text and then names the allowed range.
BAD_ARGUMENTS = [
    ("SGD", dict(lr=-1.0)), ("SGD", dict(lr=0.1, momentum=-0.5)),
    ("SGD", dict(lr=0.1, weight_decay=-1e-3)), ("SGD", dict(lr=0.1, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)),
    ("Adagrad", dict(lr=-0.1)), ("Adagrad", dict(lr_decay=-1.0)), ("Adagrad", dict(eps=-1.0)),
    ("Adagrad", dict(initial_accumulator_value=-0.1)), ("Adagrad", dict(weight_decay=-1.0)),
    ("RMSprop", dict(lr=-0.1)), ("RMSprop", dict(alpha=-0.1)), ("RMSprop", dict(eps=-1.0)),
    ("RMSprop", dict(momentum=-0.1)), ("RMSprop", dict(weight_decay=-0.1)),
    ("Adam", dict(lr=-1.0)), ("Adam", dict(betas=(1.0, 0.999))), ("Adam", dict(betas=(0.9, 1.0))),
    ("Adam", dict(betas=(-0.1, 0.999))), ("Adam", dict(eps=-1e-8)), ("Adam", dict(weight_decay=-0.1)),
    ("AdamW", dict(lr=-1.0)), ("AdamW", dict(betas=(0.9, 1.5))), ("AdamW", dict(weight_decay=-0.1)),
    ("Adamax", dict(lr=-1.0)), ("Adamax", dict(betas=(1.0, 0.9))), ("Adamax", dict(eps=-1.0)),
    ("NAdam", dict(lr=-1.0)), ("NAdam", dict(momentum_decay=-0.1)), ("NAdam", dict(betas=(0.9, 1.0))),
    ("RAdam", dict(lr=-1.0)), ("RAdam", dict(betas=(0.9, 1.0))), ("RAdam", dict(weight_decay=-1.0)),
    # the authors' packages' own checks (adabound 0.0.5, adamod 0.0.3)
    ("AdaBound", dict(lr=-1.0)), ("AdaBound", dict(eps=-1.0)),
    ("AdaBound", dict(betas=(1.0, 0.999))), ("AdaBound", dict(betas=(0.9, 1.0))),
    ("AdaBound", dict(final_lr=-0.1)), ("AdaBound", dict(gamma=1.0)),
    ("AdaBound", dict(gamma=-1e-3)),
    ("AdaMod", dict(lr=-1.0)), ("AdaMod", dict(eps=-1.0)), ("AdaMod", dict(betas=(0.9, 1.5))),
    ("AdaMod", dict(beta3=1.0)), ("AdaMod", dict(beta3=-0.5)),
]


@pytest.mark.parametrize("name,kwargs", BAD_ARGUMENTS,
                         ids=[case_id(c) for c in BAD_ARGUMENTS])
def test_bad_arguments_raise_torchs_message(name, kwargs):
    with pytest.raises(ValueError) as theirs:
        TORCH[name]([torch.nn.Parameter(torch.zeros(1))], **kwargs)
    with pytest.raises(ValueError) as ours:
        make(name, **kwargs)
    assert str(ours.value).startswith(str(theirs.value)), (str(ours.value), str(theirs.value))
    # then, in parentheses, an argument and what it must be
    assert re.search(r"\(\w+(\[\d\])? (must be|must lie in|>) ", str(ours.value)), str(ours.value)


def test_messages_name_the_argument_and_range():
    with pytest.raises(ValueError, match=re.escape("Invalid learning rate: -1.0 (lr must be >= 0)")):
        optlab.Adam(lr=-1.0)
    with pytest.raises(ValueError, match=re.escape(
            "Invalid beta parameter at index 0: 1.0 (betas[0] must lie in [0, 1))")):
        optlab.Adam(betas=(1.0, 0.999))


@pytest.mark.parametrize("name,kwargs", [
    ("Adam", dict(lr=float("nan"))), ("SGD", dict(lr=0.1, momentum=float("nan"))),
    ("RMSprop", dict(alpha=1.5)), ("SGD", dict(lr=0.1, momentum=0.9, dampening=2.0)),
    ("Adam", dict(lr=np.array([0.1, -0.2]))),
])
def test_stricter_than_torch(name, kwargs):
    """NaN, an alpha above 1 and a dampening outside [0, 1] pass torch's checks; not optlab's."""
    with pytest.raises(ValueError, match="must"):
        make(name, **kwargs)


@pytest.mark.parametrize("kwargs", [dict(amsgrad=1), dict(lr="0.1"), dict(lr=None)])
def test_wrong_types_raise_type_error(kwargs):
    with pytest.raises(TypeError):
        optlab.Adam(**kwargs)


def test_unknown_argument():
    with pytest.raises(TypeError, match="unexpected argument"):
        optlab.Adam(learning_rate=0.1)


def test_empty_parameter_list():
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optlab.Adam().init([])


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_step_is_pure(case):
    name, kwargs = case
    opt = make(name, **kwargs)
    rng = np.random.default_rng(0)
    params = {"w": rng.normal(size=(2, 3)), "b": [rng.normal(size=3)]}
    grads = {"w": rng.normal(size=(2, 3)), "b": [rng.normal(size=3)]}
    state = opt.init(params)
    state, params = opt.step(params, grads, state)[::-1]  # a non-trivial state first
    snapshot = copy.deepcopy((params, grads, state))
    first = opt.step(params, grads, state)
    second = opt.step(params, grads, state)
    for before, after in zip(_flat(snapshot), _flat((params, grads, state))):
        np.testing.assert_array_equal(before, after)  # inputs untouched
    for a, b in zip(_flat(first), _flat(second)):
        np.testing.assert_array_equal(a, b)  # same call, same answer


def _flat(tree):
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in _flat(tree[key])]
    if isinstance(tree, (list, tuple)):
        return [leaf for node in tree for leaf in _flat(node)]
    return [np.asarray(tree if tree is not None else np.nan)]


def test_trees_equal_separate_runs():
    rng = np.random.default_rng(3)
    params = {"layer": ({"w": rng.normal(size=(3, 2))}, [rng.normal(size=2)]), "s": np.array(0.5)}
    opt = optlab.Adam(lr=0.1, weight_decay=0.01)
    state = opt.init(params)
    separate = {"w": params["layer"][0]["w"], "v": params["layer"][1][0], "s": params["s"]}
    separate_state = {k: opt.init(v) for k, v in separate.items()}
    for _ in range(10):
        grads = {"layer": ({"w": np.cos(params["layer"][0]["w"])}, [np.sin(params["layer"][1][0])]),
                 "s": 2 * params["s"]}
        params, state = opt.step(params, grads, state)
        for key, g in [("w", grads["layer"][0]["w"]), ("v", grads["layer"][1][0]), ("s", grads["s"])]:
            separate[key], separate_state[key] = opt.step(separate[key], g, separate_state[key])
    assert isinstance(params["layer"], tuple) and isinstance(params["layer"][1], list)
    np.testing.assert_array_equal(params["layer"][0]["w"], separate["w"])
    np.testing.assert_array_equal(params["layer"][1][0], separate["v"])
    np.testing.assert_array_equal(params["s"], separate["s"])


@pytest.mark.parametrize("name,sweep", [
    ("SGD", dict(lr=[0.01, 0.1, 0.5], momentum=[0.0, 0.5, 0.9])),
    ("SGD", dict(lr=[0.01, 0.1, 0.5], momentum=0.9, nesterov=True)),
    ("Adagrad", dict(lr=[0.01, 0.1, 1.0], lr_decay=[0.0, 0.1, 0.01])),
    ("RMSprop", dict(lr=[0.01, 0.02, 0.05], alpha=[0.9, 0.99, 0.5], centered=True, momentum=0.5)),
    ("Adam", dict(lr=[0.001, 0.01, 0.1], betas=([0.0, 0.5, 0.9], [0.9, 0.99, 0.999]))),
    ("AdamW", dict(lr=0.01, weight_decay=[0.0, 0.1, 1.0], amsgrad=True)),
    ("Adamax", dict(lr=[0.001, 0.01, 0.1])),
    ("NAdam", dict(lr=0.01, momentum_decay=[0.0, 0.004, 0.1])),
    ("RAdam", dict(lr=[0.001, 0.01, 0.1], betas=(0.9, [0.9, 0.99, 0.999]))),
])
def test_sweep_rows_equal_single_runs(name, sweep):
    """Hyperparameter columns of shape (3, 1) against a (3, 4) batch: each row is its own run."""
    column = lambda v: np.asarray(v, dtype=float)[:, None] if isinstance(v, list) else v  # noqa: E731
    batched = {k: tuple(column(b) for b in v) if isinstance(v, tuple) else column(v)
               for k, v in sweep.items()}
    row_kwargs = lambda i: {k: tuple(b[i] if isinstance(b, list) else b for b in v)  # noqa: E731
                            if isinstance(v, tuple) else v[i] if isinstance(v, list) else v
                            for k, v in sweep.items()}
    assert_sweep_rows_equal_single_runs(make(name, **batched),
                                        [make(name, **row_kwargs(i)) for i in range(3)],
                                        np.linspace(-1.0, 2.0, 4), lambda x: np.sin(3 * x) + x, 30)


def test_sweep_needs_a_batch_of_parameters():
    opt = optlab.GD(lr=np.array([[0.1], [0.2]]))
    x = np.zeros(3)
    with pytest.raises(ValueError, match=r"lr has shape \(2, 1\).*shape \(3,\)"):
        opt.step(x, np.ones(3), opt.init(x))


def test_gradient_shape_mismatch_names_leaf_and_shapes():
    opt = optlab.Adam()
    params = {"w": np.zeros((2, 3))}
    with pytest.raises(ValueError, match=r"params\['w'\].*shape \(3, 2\).*shape \(2, 3\)"):
        opt.step(params, {"w": np.zeros((3, 2))}, opt.init(params))


def test_structure_mismatch():
    opt = optlab.Adam()
    params = {"w": np.zeros(2), "b": np.zeros(1)}
    with pytest.raises(ValueError, match="keys"):
        opt.step(params, {"w": np.zeros(2)}, opt.init(params))
    with pytest.raises(ValueError, match="entries"):
        opt.step([np.zeros(2)], [np.zeros(2), np.zeros(2)], opt.init([np.zeros(2)]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_gradient_raises_and_changes_nothing(bad):
    opt = optlab.Adam(lr=0.1)
    params = [np.ones(3), np.ones(2)]
    state = opt.init(params)
    params, state = opt.step(params, [np.ones(3), np.ones(2)], state)
    snapshot = copy.deepcopy((params, state))
    grads = [np.ones(3), np.array([1.0, bad])]
    with pytest.raises(FloatingPointError, match=r"params\[1\]"):
        opt.step(params, grads, state)
    for a, b in zip(_flat(snapshot), _flat((params, state))):
        np.testing.assert_array_equal(a, b)


def test_overflowing_step_is_reported():
    opt = optlab.GD(lr=1e308)
    with pytest.raises(FloatingPointError, match="non-finite"):
        opt.step(np.array([1e10]), np.array([1e10]), opt.init(np.array([1e10])))


def test_integer_arrays_raise_type_error():
    opt = optlab.SGD(lr=0.1)
    with pytest.raises(TypeError, match="dtype"):
        opt.init(np.arange(3))
    x = np.zeros(3)
    with pytest.raises(TypeError, match="dtype"):
        opt.step(x, np.arange(3), opt.init(x))


def test_presets_are_sgd_and_adam_with_fixed_arguments():
    assert optlab.GD(0.1).hyperparameters == optlab.SGD(lr=0.1).hyperparameters
    assert optlab.Momentum(0.1, 0.9).hyperparameters == optlab.SGD(lr=0.1, momentum=0.9).hyperparameters
    assert optlab.Nesterov(0.1, 0.9).hyperparameters["nesterov"] is True
    assert optlab.AMSGrad(lr=0.01).hyperparameters == optlab.Adam(lr=0.01, amsgrad=True).hyperparameters
    assert optlab.AdamW().hyperparameters["decoupled_weight_decay"] is True
    assert optlab.AdamW.rule is optlab.Adam.rule


def test_state_carries_over_to_an_optimizer_with_other_hyperparameters():
    """A schedule α/√t applied step by step equals torch with a LambdaLR scheduler."""
    base = optlab.Adam(lr=0.1)
    x = np.array([1.0, -1.0])
    state = base.init(x)
    p = torch.nn.Parameter(torch.tensor([1.0, -1.0], dtype=torch.float64))
    ref = torch.optim.Adam([p], lr=0.1, foreach=False)
    schedule = torch.optim.lr_scheduler.LambdaLR(ref, lambda k: 1 / np.sqrt(k + 1))
    for t in range(1, 21):
        x, state = base.replace(lr=0.1 / np.sqrt(t)).step(x, 2 * x, state)
        p.grad = 2 * p.detach().clone()
        ref.step()
        schedule.step()
    np.testing.assert_allclose(x, p.detach().numpy(), rtol=1e-10)
    assert state["step"] == 20


def test_state_from_other_options_is_rejected():
    x = np.zeros(2)
    with pytest.raises(ValueError, match="max_exp_avg_sq"):
        optlab.AMSGrad().step(x, np.ones(2), optlab.Adam().init(x))


def test_rmsprop_centered_breakdown_is_reported_not_spread():
    """v − ḡ² is a difference of nearly equal numbers under a constant gradient; when rounding
    makes it negative the square root is NaN. torch returns NaN; optlab raises and says where."""
    opt = optlab.RMSprop(lr=1e-3, alpha=0.5, centered=True, eps=0.0)
    x = np.array([0.0])
    state = opt.init(x)
    with pytest.raises(FloatingPointError, match=r"params"):
        for _ in range(200):
            x, state = opt.step(x, np.array([0.1]), state)


def test_state_that_overflows_is_reported():
    """A finite step whose second moment overflows would stall silently (m / inf = 0)."""
    opt = optlab.Adam(lr=1e-3)
    x = np.array([0.0])
    with pytest.raises(FloatingPointError, match="state non-finite"):
        opt.step(x, np.array([1e200]), opt.init(x))


def test_hyperparameters_are_read_only_and_replace_changes_them():
    """Writing into .hyperparameters would skip validation (lr = -5 would run); replace() checks."""
    opt = optlab.Adam(lr=0.1)
    with pytest.raises(TypeError):
        opt.hyperparameters["lr"] = -5
    with pytest.raises(AttributeError):
        opt.hyperparameters = {**opt.hyperparameters, "lr": -5}
    lr = np.array([[0.1], [0.2]])
    sweep = optlab.GD(lr=lr)
    with pytest.raises(ValueError, match="read-only"):
        sweep.hyperparameters["lr"][0, 0] = -5
    lr[0, 0] = 7.0  # the caller's array stays the caller's: the optimizer keeps its own copy
    assert sweep.hyperparameters["lr"][0, 0] == 0.1 and lr.flags.writeable
    with pytest.raises(ValueError, match="Invalid learning rate"):
        opt.replace(lr=-5)
    assert opt.replace(lr=0.2).hyperparameters["lr"] == 0.2 and opt.hyperparameters["lr"] == 0.1


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_optimizers_copy_and_pickle(case):
    import pickle

    opt = make(*case[:1], **case[1])
    for twin in (copy.copy(opt), copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))):
        assert type(twin) is type(opt) and repr(twin) == repr(opt)
        assert twin.hyperparameters == opt.hyperparameters
