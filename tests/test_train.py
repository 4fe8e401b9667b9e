"""optlab.train.train_batched: every row is the plain torch.optim run it stands for.

The reference is the script a reader would write: torch.manual_seed(seed), model.torch_module()
(PyTorch's own layers and initialisation), torch.optim with the row's hyperparameters, one
torch.randperm per epoch, nn.Dropout in training mode. Nothing of optlab's batched code runs in
it, so agreement to ~1e-10 (float64) checks the stacked forward pass, the per-row gradients, the
tensor hyperparameters in _ops and the data order at once.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import optlab
from optlab.datasets import load_breast_cancer, load_digits
from optlab.models import CNN, MLP, LogisticRegression
from optlab.train import grid, train_batched

RTOL = 1e-10


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: a second thread only adds contention on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def reference(model, data, seed, make_opt, epochs, batch_size, lr_factor=None, stop_at=None):
    """A plain PyTorch run. Returns (net, step losses, train losses, test losses, test accuracies,
    first step whose loss or new parameters were non-finite or None), stopping before that step's
    update (or after `stop_at` steps)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = model.torch_module()
        opt = make_opt(net.parameters())
        schedule = (torch.optim.lr_scheduler.LambdaLR(opt, lr_factor) if lr_factor else None)
        n = len(data.y_train)
        steps, curves, bad_step, step = [], [evaluate(net, data)], None, 0
        for _ in range(epochs):
            order = torch.randperm(n)
            for start in range(0, n, batch_size):
                if bad_step is not None or step == stop_at:
                    break
                index = order[start:start + batch_size]
                net.train()
                loss = F.cross_entropy(net(data.x_train[index]), data.y_train[index])
                step += 1
                steps.append(loss.item())
                if not math.isfinite(loss.item()):
                    bad_step = step
                    break
                saved = {k: v.clone() for k, v in net.state_dict().items()}
                opt.zero_grad()
                loss.backward()
                opt.step()
                if schedule is not None:
                    schedule.step()
                if not all(torch.isfinite(p).all() for p in net.parameters()):
                    bad_step = step
                    net.load_state_dict(saved)
            curves.append(evaluate(net, data))
    return net, np.array(steps), *map(np.array, zip(*curves)), bad_step


@torch.no_grad()
def evaluate(net, data):
    net.eval()
    logits = net(data.x_test)
    return (F.cross_entropy(net(data.x_train), data.y_train).item(),
            F.cross_entropy(logits, data.y_test).item(),
            (logits.argmax(1) == data.y_test).double().mean().item())


def assert_row_matches(result, i, ref, model):
    net, steps, train_loss, test_loss, test_accuracy, _ = ref
    for name, value in net.state_dict().items():
        torch.testing.assert_close(result.params[name][i], value, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(result.step_loss[i], steps, rtol=RTOL)
    np.testing.assert_allclose(result.train_loss[i], train_loss, rtol=RTOL)
    np.testing.assert_allclose(result.test_loss[i], test_loss, rtol=RTOL)
    np.testing.assert_array_equal(result.test_accuracy[i], test_accuracy)


G = grid(lr=[3e-3, 3e-2], weight_decay=[0.0, 1e-2])
SEEDS = np.array([0, 7, 7, 0])  # each lr and each weight decay meets both seeds

CASES = {
    "SGD-Nesterov": (lambda g: optlab.SGD(lr=g["lr"] * 10, momentum=0.9, nesterov=True,
                                          weight_decay=g["weight_decay"]),
                     lambda lr, wd: lambda ps: torch.optim.SGD(ps, lr=lr * 10, momentum=0.9,
                                                               nesterov=True, weight_decay=wd,
                                                               foreach=False)),
    "Adam-L2": (lambda g: optlab.Adam(lr=g["lr"], weight_decay=g["weight_decay"]),
                lambda lr, wd: lambda ps: torch.optim.Adam(ps, lr=lr, weight_decay=wd,
                                                           foreach=False)),
    "AdamW": (lambda g: optlab.AdamW(lr=g["lr"], weight_decay=g["weight_decay"]),
              lambda lr, wd: lambda ps: torch.optim.AdamW(ps, lr=lr, weight_decay=wd,
                                                          foreach=False)),
    "RMSprop-momentum": (lambda g: optlab.RMSprop(lr=g["lr"] / 3, momentum=0.5,
                                                  weight_decay=g["weight_decay"]),
                         lambda lr, wd: lambda ps: torch.optim.RMSprop(
                             ps, lr=lr / 3, momentum=0.5, weight_decay=wd, foreach=False)),
    "Adagrad": (lambda g: optlab.Adagrad(lr=g["lr"] * 3, weight_decay=g["weight_decay"]),
                lambda lr, wd: lambda ps: torch.optim.Adagrad(ps, lr=lr * 3, weight_decay=wd,
                                                              foreach=False)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_row_is_its_torch_optim_run(case, digits):
    make_ours, make_torch = CASES[case]
    model = MLP(64, 10, hidden=(16,), dropout=0.1)
    # 100 does not divide the 1347 training samples: the last minibatch of each epoch has 47
    result = train_batched(make_ours(G), model, digits, SEEDS, epochs=2, batch_size=100)
    assert result.step_loss.shape == (G.size, 2 * 14) and not result.diverged.any()
    for i in range(G.size):
        ref = reference(model, digits, int(SEEDS[i]),
                        make_torch(float(G["lr"][i]), float(G["weight_decay"][i])), 2, 100)
        assert_row_matches(result, i, ref, model)


def test_lr_factor_is_lambda_lr(digits):
    model = LogisticRegression(64, 10)
    epochs, batch_size = 2, 128
    total = epochs * math.ceil(1347 / batch_size)
    cosine = lambda step: 0.5 * (1 + math.cos(math.pi * step / total))  # noqa: E731
    lrs = np.array([0.01, 0.1])
    result = train_batched(optlab.AdamW(lr=lrs, weight_decay=0.1), model, digits, 3,
                           epochs=epochs, batch_size=batch_size, lr_factor=cosine)
    for i, lr in enumerate(lrs):
        ref = reference(model, digits, 3, lambda ps: torch.optim.AdamW(
            ps, lr=float(lr), weight_decay=0.1, foreach=False), epochs, batch_size, cosine)
        assert_row_matches(result, i, ref, model)
    # a per-configuration factor: row i's factor scaled by i + 1 is row i with lr · (i + 1)
    scaled = train_batched(optlab.AdamW(lr=0.01, weight_decay=0.1), model, digits, [3, 3],
                           epochs=1, lr_factor=lambda s: cosine(s) * np.array([1.0, 10.0]))
    single = train_batched(optlab.AdamW(lr=0.1, weight_decay=0.1), model, digits, 3, epochs=1,
                           lr_factor=cosine)
    np.testing.assert_allclose(scaled.train_loss[1], single.train_loss[0], rtol=1e-12)


def test_cnn_rows_match(digits):
    model = CNN(10, channels=(4, 8))
    g = grid(lr=[0.02, 0.05], seed=[1, 2])
    result = train_batched(optlab.Momentum(lr=g["lr"], momentum=0.9), model, digits, g["seed"],
                           epochs=1, batch_size=256)
    for i in range(g.size):
        ref = reference(model, digits, int(g["seed"][i]), lambda ps: torch.optim.SGD(
            ps, lr=float(g["lr"][i]), momentum=0.9, foreach=False), 1, 256)
        assert_row_matches(result, i, ref, model)


def test_diverged_rows_are_flagged_and_frozen(digits):
    model = MLP(64, 10, hidden=(16,))
    lrs = np.array([0.05, 1e200, 1e150])
    result = train_batched(optlab.SGD(lr=lrs), model, digits, 0, epochs=2, batch_size=128)
    assert "2 of 3 diverged" in repr(result)
    np.testing.assert_array_equal(result.diverged, [False, True, True])
    for i, lr in enumerate(lrs):
        make = lambda ps: torch.optim.SGD(ps, lr=float(lr), foreach=False)  # noqa: E731
        bad = reference(model, digits, 0, make, 2, 128)[-1]  # the first bad step, by torch
        assert result.diverged_at[i] == (-1 if bad is None else bad)
        if bad is None:
            assert_row_matches(result, i, reference(model, digits, 0, make, 2, 128), model)
            continue
        # frozen at the parameters the torch run had before its bad step
        net = reference(model, digits, 0, make, 1, 128, stop_at=bad - 1)[0]
        for name, value in net.state_dict().items():
            torch.testing.assert_close(result.params[name][i], value, rtol=RTOL, atol=0)
        assert np.isfinite(result.train_loss[i, 0])
        # no change after freezing (NaN where the frozen parameters' loss overflows, as the
        # minibatch loss that froze them did)
        np.testing.assert_array_equal(result.train_loss[i, 1], result.train_loss[i, 2])
        assert all(torch.isfinite(p[i]).all() for p in result.params.values())


def test_rows_are_independent_of_their_neighbours(digits):
    model = LogisticRegression(64, 10)
    alone = train_batched(optlab.Adam(lr=0.01), model, digits, 5, epochs=1)
    together = train_batched(optlab.Adam(lr=[1e9, 0.01, 0.3]), model, digits, [5, 5, 6], epochs=1)
    for name in alone.params:
        torch.testing.assert_close(together.params[name][1], alone.params[name][0], rtol=1e-13,
                                   atol=0)


def test_grid_flattens_in_c_order():
    g = grid(lr=[0.1, 0.2], weight_decay=[0.0, 1e-3, 1e-2], seed=range(2))
    assert g.shape == (2, 3, 2) and g.size == len(g) == 12
    lr, wd, seed = (g[k].reshape(g.shape) for k in ("lr", "weight_decay", "seed"))
    assert (lr[1] == 0.2).all() and (wd[:, 2] == 1e-2).all() and (seed[..., 1] == 1).all()


def test_breast_cancer_logistic_regression_learns():
    data = load_breast_cancer()
    assert (len(data.y_train), len(data.y_test), data.features, data.classes) == (427, 142, 30, 2)
    result = train_batched(optlab.Adam(lr=0.01), LogisticRegression(30, 2), data, [0, 1],
                           epochs=5, batch_size=64)
    assert (result.train_loss[:, -1] < 0.5 * result.train_loss[:, 0]).all()
    assert (result.final_test_accuracy > 0.9).all()


def test_datasets_standardized_with_training_statistics():
    from sklearn.datasets import load_digits as raw

    data = load_digits()
    x, y = raw(return_X_y=True)
    assert len(data.y_train) + len(data.y_test) == 1797
    assert data.x_train.dtype == torch.float64 and data.y_train.dtype == torch.int64
    varying = data.scale != 1.0
    np.testing.assert_allclose(data.x_train.mean(0).numpy(), 0, atol=1e-12)
    np.testing.assert_allclose(data.x_train.std(0, unbiased=False).numpy()[varying], 1, rtol=1e-12)
    # every test row is a raw row mapped with the training mean and scale, and is not in train
    raw_test = data.x_test.numpy() * data.scale + data.mean
    rows = {tuple(r) for r in np.round(x, 6)}
    assert all(tuple(r) in rows for r in np.round(raw_test, 6))
    # stratified: each class's share of the test set is within one sample of 25 %
    counts_all, counts_test = np.bincount(y), np.bincount(data.y_test.numpy())
    assert (np.abs(counts_test - 0.25 * counts_all) <= 1).all()
    again, other = load_digits(), load_digits(split_seed=1)
    assert torch.equal(again.x_test, data.x_test) and not torch.equal(other.y_test, data.y_test)
    assert load_digits(dtype=torch.float32).x_train.dtype == torch.float32


@pytest.mark.parametrize("call, error, match", [
    (lambda d: train_batched(optlab.Adam(lr=[0.1, 0.2]), MLP(64, 10), d, [0, 1, 2], epochs=1),
     ValueError, "common length N"),
    (lambda d: train_batched(optlab.Adam(lr=np.ones((2, 1))), MLP(64, 10), d, 0, epochs=1),
     ValueError, r"lr has shape \(2, 1\)"),
    (lambda d: train_batched(optlab.Adam(), MLP(64, 10), d, [-1], epochs=1),
     ValueError, "seeds must be"),
    (lambda d: train_batched(optlab.Adam(), MLP(64, 10), d, [0.5], epochs=1),
     ValueError, "seeds must be"),
    (lambda d: train_batched(optlab.Adam(), MLP(64, 10), d, 0, epochs=-1),
     ValueError, "epochs must be an integer >= 0"),
    (lambda d: train_batched(optlab.Adam(), MLP(64, 10), d, 0, epochs=1.5),
     ValueError, "epochs must be"),
    (lambda d: train_batched(optlab.Adam(), MLP(64, 10), d, 0, epochs=1, batch_size=0),
     ValueError, "batch_size must be an integer >= 1"),
    (lambda d: train_batched(optlab.Adam(), MLP(30, 2), d, 0, epochs=1),
     ValueError, "takes 30 features and 2 classes"),
    (lambda d: train_batched(torch.optim.Adam, MLP(64, 10), d, 0, epochs=1),
     TypeError, "optlab optimizer"),
    (lambda d: train_batched(optlab.Adam(), MLP(64, 10), d, 0, epochs=1,
                             lr_factor=lambda s: -1.0), ValueError, r"lr_factor\(0\) must be"),
    (lambda d: train_batched(optlab.Adam(), MLP(64, 10), d, [0, 1], epochs=1,
                             lr_factor=lambda s: np.ones(3)), ValueError, r"shape \(3,\)"),
    (lambda d: train_batched(optlab.Adagrad(initial_accumulator_value=[0.0, 0.1]), MLP(64, 10), d,
                             0, epochs=1), ValueError, "initial_accumulator_value"),
    (lambda d: MLP(64, 10, dropout=1.0), ValueError, r"dropout must be a probability in \[0, 1\)"),
    (lambda d: MLP(64, 10, activation="gelu"), ValueError, "activation must be one of"),
    (lambda d: MLP(64, 0), ValueError, "classes must be an integer >= 2"),
    (lambda d: CNN(image_shape=(1, 6, 6)), ValueError, "divisible by 4"),
    (lambda d: load_digits(test_fraction=1.0), ValueError, r"test_fraction must be .* \(0, 1\)"),
    (lambda d: load_digits(split_seed=-3), ValueError, "split_seed must be an integer >= 0"),
    (lambda d: load_digits(dtype=torch.int64), TypeError, "floating-point torch dtype"),
    (lambda d: grid(lr=[]), ValueError, "grid axis lr must be a non-empty 1-D sequence"),
    (lambda d: optlab.Adam(lr=[0.1, -0.1]), ValueError, "Invalid learning rate: -0.1"),
])
def test_bad_arguments_are_rejected(call, error, match, digits):
    with pytest.raises(error, match=match):
        call(digits)
