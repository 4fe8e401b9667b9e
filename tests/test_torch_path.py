"""optlab.torch_optimizer in an ordinary training loop, against torch.optim."""

import copy

import pytest
import torch

import optlab

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def small_network(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def data(device):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(64, 4, generator=generator)
    y = torch.sin(x.sum(dim=1, keepdim=True))
    return x.to(device), y.to(device)


def train(model, optimizer, scheduler, x, y, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


PAIRS = [
    (lambda: optlab.Adam(lr=0.01, weight_decay=1e-3), torch.optim.Adam, dict(lr=0.01, weight_decay=1e-3)),
    (lambda: optlab.AdamW(lr=0.01, amsgrad=True), torch.optim.AdamW, dict(lr=0.01, amsgrad=True)),
    (lambda: optlab.Nesterov(0.05, 0.9), torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (lambda: optlab.RMSprop(lr=0.01, centered=True, momentum=0.5), torch.optim.RMSprop,
     dict(lr=0.01, centered=True, momentum=0.5)),
    (lambda: optlab.NAdam(lr=0.01), torch.optim.NAdam, dict(lr=0.01)),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p[1].__name__ + str(sorted(p[2])))
def test_training_with_scheduler_matches_torch(pair, device):
    make_ours, torch_class, kwargs = pair
    x, y = data(device)
    reference, candidate = small_network().to(device), small_network().to(device)
    ref_opt = torch_class(reference.parameters(), foreach=False, **kwargs)
    our_opt = optlab.torch_optimizer(make_ours(), candidate.parameters())
    schedules = [torch.optim.lr_scheduler.StepLR(o, step_size=10, gamma=0.5) for o in (ref_opt, our_opt)]
    train(reference, ref_opt, schedules[0], x, y, 40)
    train(candidate, our_opt, schedules[1], x, y, 40)
    assert our_opt.param_groups[0]["lr"] == ref_opt.param_groups[0]["lr"] == kwargs["lr"] / 16
    for a, b in zip(candidate.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_state_dict_round_trip_resumes_exactly():
    x, y = data("cpu")
    model = small_network()
    opt = optlab.torch_optimizer(optlab.Adam(lr=0.01, amsgrad=True), model.parameters())
    train(model, opt, None, x, y, 15)
    saved_model, saved_opt = copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())
    train(model, opt, None, x, y, 15)

    resumed = small_network(seed=123)
    resumed.load_state_dict(saved_model)
    resumed_opt = optlab.torch_optimizer(optlab.Adam(lr=0.01, amsgrad=True), resumed.parameters())
    resumed_opt.load_state_dict(saved_opt)
    train(resumed, resumed_opt, None, x, y, 15)
    for a, b in zip(resumed.parameters(), model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert all(s["step"] == 30 for s in resumed_opt.state.values())


def test_parameters_without_gradient_are_skipped_and_groups_keep_their_settings():
    model = small_network()
    head, body = model[2], model[0]
    opt = optlab.torch_optimizer(optlab.SGD(lr=0.1, momentum=0.9),
                                 [{"params": body.parameters(), "lr": 0.0},
                                  {"params": head.parameters()}])
    reference = torch.optim.SGD([{"params": copy.deepcopy(body).parameters(), "lr": 0.0}], lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    x, y = data("cpu")
    for p in body.parameters():
        p.requires_grad_(False)
    train(model, opt, None, x, y, 3)
    assert all(p not in opt.state for p in body.parameters())  # grad None: no state at all
    assert torch.equal(model[0].weight, before[0])
    assert not torch.equal(model[2].weight, before[2])
    assert opt.param_groups[0]["lr"] == reference.param_groups[0]["lr"] == 0.0


def test_bad_group_hyperparameter_is_rejected_with_torchs_message():
    model = small_network()
    with pytest.raises(ValueError, match="Invalid learning rate: -1.0"):
        optlab.torch_optimizer(optlab.Adam(), [{"params": model.parameters(), "lr": -1.0}])


def test_empty_parameter_list():
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optlab.torch_optimizer(optlab.Adam(), [])


def test_non_finite_gradient_raises_before_anything_moves():
    model = small_network()
    opt = optlab.torch_optimizer(optlab.Adam(lr=0.1), model.parameters())
    x, y = data("cpu")
    train(model, opt, None, x, y, 2)
    before = copy.deepcopy((model.state_dict(), opt.state_dict()))
    torch.nn.functional.mse_loss(model(x), y).backward()
    model[2].bias.grad[0] = float("nan")
    with pytest.raises(FloatingPointError, match="parameter 3"):
        opt.step()
    for key, value in before[0].items():
        assert torch.equal(model.state_dict()[key], value)
    for index, state in before[1]["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                assert torch.equal(opt.state_dict()["state"][index][name], value)


def test_array_hyperparameters_are_refused_on_the_torch_path():
    import numpy as np

    with pytest.raises(TypeError, match="NumPy path"):
        optlab.torch_optimizer(optlab.GD(lr=np.array([0.1, 0.2])), small_network().parameters())


def test_torch_is_imported_only_by_the_torch_path():
    import subprocess
    import sys

    code = ("import sys, numpy as np, optlab; x = np.ones(2); o = optlab.Adam();"
            "o.step(x, x, o.init(x)); assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_huge_but_finite_gradients_are_not_mistaken_for_nan():
    """The fast check sums each gradient; a sum that overflows must not raise by itself."""
    p = torch.nn.Parameter(torch.zeros(4))
    opt = optlab.torch_optimizer(optlab.SGD(lr=1e-40), [p])
    p.grad = torch.full((4,), 3e38)
    opt.step()
    assert torch.isfinite(p).all() and (p < 0).all()


def test_group_options_that_shape_the_state_are_honoured():
    """A group with amsgrad=True needs max_exp_avg_sq even if the optimizer's default is False."""
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    ref_a, ref_b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    ours = optlab.torch_optimizer(optlab.Adam(lr=0.1), [{"params": [a]}, {"params": [b], "amsgrad": True}])
    ref = torch.optim.Adam([{"params": [ref_a]}, {"params": [ref_b], "amsgrad": True}], lr=0.1,
                           foreach=False)
    for t in range(10):
        for p in (a, b, ref_a, ref_b):
            p.grad = torch.full((3,), 1.0 if t < 3 else 0.01)
        ours.step()
        ref.step()
    assert "max_exp_avg_sq" in ours.state[b] and "max_exp_avg_sq" not in ours.state[a]
    torch.testing.assert_close(b, ref_b)
    torch.testing.assert_close(a, ref_a)
    assert not torch.equal(a, b)
