"""cnncourse.train (fit, evaluate, predict, devices, checkpoints, AMP, DDP), the command line,
cnncourse.metrics.accuracy and the torch LeNet of cnncourse.models."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cnncourse.cli import main
from cnncourse.data import torch_transforms as tt
from cnncourse.data.datasets import DigitsDataset, make_loader
from cnncourse.metrics import accuracy
from cnncourse.models import LeNet, export_scratch_weights, load_scratch_weights
from cnncourse.registry import get_model, list_models, model_info
from cnncourse.scratch.network import lenet as scratch_lenet
from cnncourse.train import (History, TrainConfig, evaluate, fit, load_checkpoint, predict,
                             primary_output, seed_everything, select_device)

ROOT = Path(__file__).resolve().parents[1]
requires_cuda = [pytest.mark.gpu,
                 pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
QUIET = dict(progress=False, device="cpu")


def gpu_test(function):
    for mark in requires_cuda:
        function = mark(function)
    return function


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The networks here are tiny: one thread is fastest, and fair to the other jobs of the machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    return DigitsDataset(train=True), DigitsDataset(train=False)


def small_net(seed=0, dropout=0.0):
    seed_everything(seed)
    layers = [nn.Flatten(), nn.Linear(64, 32), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(32, 10))


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)


# --------------------------------------------------------------------------- devices
def test_auto_device_is_cpu_without_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert select_device("auto") == torch.device("cpu")
    assert select_device() == torch.device("cpu")


def test_auto_prefers_mps_to_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert select_device("auto") == torch.device("mps")


def test_explicit_cpu_is_honoured():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("spec", ["cuda", "cuda:1", torch.device("cuda", 0)])
def test_missing_cuda_raises_a_clear_error(monkeypatch, spec):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"'cuda(:\d)?' requested but torch\.cuda\.is_available\(\) is False"):
        select_device(spec)


def test_missing_mps_raises_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"'mps' requested but torch\.backends\.mps\.is_available\(\) is False"):
        select_device("mps")


@pytest.mark.parametrize("spec", ["gpu", "tpu", "CPU", "", "meta"])
def test_unknown_device_names_are_refused(spec):
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu', 'cuda'"):
        select_device(spec)


def test_device_of_a_wrong_type_is_refused():
    with pytest.raises(TypeError, match="device must be"):
        select_device(0)


@gpu_test
def test_cuda_device_gets_its_index_and_a_missing_index_is_refused():
    assert select_device("cuda").type == "cuda"
    assert select_device("cuda").index is not None
    assert select_device("auto").type == "cuda"
    count = torch.cuda.device_count()
    with pytest.raises(ValueError, match=f"only {count} CUDA device"):
        select_device(f"cuda:{count}")


# --------------------------------------------------------------------------- configuration
@pytest.mark.parametrize("field, value, error", [
    ("epochs", 0, ValueError), ("epochs", 2.0, TypeError), ("batch_size", 0, ValueError),
    ("lr", 0.0, ValueError), ("lr", "0.1", TypeError), ("optimizer", "rmsprop", ValueError),
    ("momentum", 1.0, ValueError), ("weight_decay", -1.0, ValueError),
    ("scheduler", "linear", ValueError), ("gamma", 0.0, ValueError), ("grad_clip", 0.0, ValueError),
    ("device", 3, TypeError), ("amp", "yes", TypeError), ("seed", -1, ValueError),
    ("num_workers", -1, ValueError), ("checkpoint", 5, TypeError), ("checkpoint", "", ValueError),
    ("checkpoint_every", 0, ValueError), ("resume", 1.5, TypeError),
    ("early_stopping", 0, ValueError), ("progress", 1, TypeError), ("log_every", 0, ValueError),
])
def test_config_checks_every_field(field, value, error):
    with pytest.raises(error, match=field):
        TrainConfig(**{field: value})


def test_fit_checks_its_arguments(digits):
    train, test = digits
    model = small_net()
    with pytest.raises(TypeError, match="epoch"):
        fit(model, train, epoch=3)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        fit(scratch_lenet(input_size=8), train)
    with pytest.raises(TypeError, match="config must be a TrainConfig"):
        fit(model, train, config={"epochs": 1})
    with pytest.raises(TypeError, match="loss must be"):
        fit(model, train, loss="cross_entropy", **QUIET)
    with pytest.raises(TypeError, match="metrics must be"):
        fit(model, train, metrics="accuracy", **QUIET)
    with pytest.raises(ValueError, match="metrics must be one of 'accuracy'"):
        fit(model, train, metrics=["precision"], **QUIET)
    with pytest.raises(TypeError, match="augment must be"):
        fit(model, train, augment=5, **QUIET)
    with pytest.raises(ValueError, match="early_stopping needs validation data"):
        fit(model, train, early_stopping=2, **QUIET)
    with pytest.raises(TypeError, match="train_data must be a Dataset"):
        fit(model, "digits", **QUIET)
    with pytest.raises(ValueError, match="train_data: inputs and targets must hold the same number"):
        fit(model, (train.images, train.targets[:-1]), **QUIET)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        fit(model, train, resume="/nonexistent/ckpt.pt", **QUIET)


# --------------------------------------------------------------------------- training
def test_lenet_learns_the_digits(digits):
    train, test = digits
    seed_everything(0)
    model = get_model("lenet")
    history = fit(model, train, test, epochs=5, **QUIET)
    assert isinstance(history, History) and history.epochs == 5
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_accuracy[-1] > 0.9
    assert len(history.lr) == len(history.time) == 5 and all(t > 0 for t in history.time)
    assert history.device == "cpu" and history.amp is False and history.world_size == 1
    assert history.best_epoch == int(np.argmin(history.val_loss)) + 1
    assert "val loss" in history.summary().splitlines()[-1]

    result = evaluate(model, test)
    assert result["accuracy"] == pytest.approx(history.val_accuracy[-1], abs=1e-12)
    assert result["loss"] == pytest.approx(history.val_loss[-1], rel=1e-5)
    logits = predict(model, test.images)
    assert logits.shape == (len(test), 10) and logits.device.type == "cpu"
    assert accuracy(logits, test.targets) == pytest.approx(result["accuracy"])
    assert torch.allclose(predict(model, test, batch_size=7), logits, atol=1e-5)
    assert model.training  # predict and evaluate restore the mode


def test_progress_bar_shows_loss_and_metrics_and_is_silent_when_off(digits, capsys):
    train, test = digits
    fit(small_net(), train, test, epochs=2, progress=True, device="cpu", log_every=5)
    out, err = capsys.readouterr()
    assert out == "" and "epoch 1/2" in err and "epoch 2/2" in err
    assert "loss=" in err and "accuracy=" in err and "val_accuracy=" in err
    fit(small_net(), train, test, epochs=1, **QUIET)
    assert capsys.readouterr() == ("", "")


def test_fit_takes_arrays_and_loaders(digits):
    train, test = digits
    arrays = (train.images.numpy(), train.targets.numpy())
    first = small_net()
    fit(first, arrays, (test.images.numpy(), test.targets.numpy()), epochs=2, **QUIET)
    second = small_net()
    fit(second, make_loader(train, batch_size=64, shuffle=True), epochs=2, **QUIET)
    assert same_weights(first, second)  # same data, same seed, same order of samples


def test_schedulers_and_optimizers_change_the_learning_rate(digits):
    train, _ = digits
    history = fit(small_net(), train, epochs=3, scheduler="step", step_size=1, gamma=0.5, **QUIET)
    assert history.lr == pytest.approx([0.05, 0.025, 0.0125])
    history = fit(small_net(), train, epochs=2, scheduler="cosine", **QUIET)
    assert history.lr == pytest.approx([0.05, 0.025])
    for optimizer in ("adam", "adamw"):
        history = fit(small_net(), train, epochs=2, optimizer=optimizer, lr=1e-3, grad_clip=1.0,
                      weight_decay=1e-4, **QUIET)
        assert history.train_loss[1] < history.train_loss[0]


def test_same_seed_gives_the_same_weights(digits):
    train, test = digits
    runs = []
    for seed in (7, 7, 8):
        seed_everything(seed)
        model = get_model("lenet")
        fit(model, train, test, epochs=2, seed=seed, **QUIET)
        runs.append(model)
    assert same_weights(runs[0], runs[1])
    assert not same_weights(runs[0], runs[2])


def test_a_diverging_run_stops_with_a_clear_error(digits):
    train, _ = digits

    def exploding(outputs, targets):
        return (outputs * float("inf")).sum()

    with pytest.raises(FloatingPointError, match="became nan in epoch 1; try a smaller learning rate"):
        fit(small_net(), train, epochs=3, loss=exploding, **QUIET)


def test_amp_is_ignored_on_cpu(digits):
    train, _ = digits
    plain = small_net()
    fit(plain, train, epochs=1, amp=False, **QUIET)
    mixed = small_net()
    with pytest.warns(UserWarning, match="amp=True is ignored on cpu"):
        history = fit(mixed, train, epochs=1, amp=True, **QUIET)
    assert history.amp is False
    assert same_weights(plain, mixed)


def test_augmentation_runs_on_the_batches(digits):
    train, test = digits
    calls = []

    def augment(images, generator):
        calls.append((images.shape, generator.device))
        return tt.RandomTranslate(1)(images, generator)

    fit(small_net(), train, test, epochs=1, batch_size=100, augment=augment, **QUIET)
    assert len(calls) == 14 and calls[0] == ((100, 1, 8, 8), torch.device("cpu"))


class TwoHeads(nn.Module):
    """Returns (main, auxiliary) logits in training and only the main ones in evaluation."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU())
        self.main, self.aux = nn.Linear(32, 10), nn.Linear(32, 10)

    def forward(self, x):
        h = self.body(x)
        return (self.main(h), self.aux(h)) if self.training else self.main(h)


def test_models_with_auxiliary_outputs_need_and_take_a_loss(digits):
    train, test = digits
    with pytest.raises(TypeError, match=r"returned a tuple of outputs.*pass loss="):
        fit(TwoHeads(), train, epochs=1, **QUIET)

    def loss(outputs, targets):
        if isinstance(outputs, tuple):
            main, aux = outputs
            return (nn.functional.cross_entropy(main, targets)
                    + 0.3 * nn.functional.cross_entropy(aux, targets))
        return nn.functional.cross_entropy(outputs, targets)

    seed_everything(0)
    model = TwoHeads()
    history = fit(model, train, test, epochs=3, loss=loss, metrics=["accuracy"], **QUIET)
    assert history.train_accuracy[-1] > 0.8 and history.val_accuracy[-1] > 0.8
    assert primary_output({"aux": 1, "out": torch.ones(1)}).shape == (1,)
    assert primary_output([torch.zeros(2), torch.ones(3)]).shape == (2,)


def test_custom_loss_without_metrics_records_only_the_loss(digits):
    train, test = digits
    history = fit(small_net(), train, test, epochs=1, loss=nn.CrossEntropyLoss(), **QUIET)
    assert history.train_metrics == {} and history.val_metrics == {} and len(history.val_loss) == 1


def test_early_stopping_restores_the_best_weights(digits):
    train, test = digits
    g = np.random.default_rng(0)  # random labels: the validation loss soon rises
    noise_train = (train.images, torch.as_tensor(g.integers(0, 10, len(train))))
    noise_test = (test.images, torch.as_tensor(g.integers(0, 10, len(test))))
    model = small_net()
    history = fit(model, noise_train, noise_test, epochs=40, early_stopping=2, lr=0.1, **QUIET)
    assert history.stopped_early and history.epochs < 40
    assert history.epochs == history.best_epoch + 2
    assert evaluate(model, noise_test)["loss"] == pytest.approx(min(history.val_loss), rel=1e-5)


# --------------------------------------------------------------------------- checkpoints
def test_resuming_gives_the_weights_of_an_uninterrupted_run(digits, tmp_path):
    train, test = digits
    augment = tt.Compose([tt.RandomTranslate(1), tt.SaltAndPepper(0.02)])
    options = dict(epochs=4, scheduler="cosine", lr=0.05, seed=3, **QUIET)
    whole = small_net(0, dropout=0.3)
    history = fit(whole, train, test, augment=augment, checkpoint=tmp_path / "ckpt-{epoch}.pt",
                  **options)
    assert sorted(os.listdir(tmp_path)) == [f"ckpt-{e}.pt" for e in range(1, 5)]

    resumed = small_net(1, dropout=0.3)  # other initial weights: the checkpoint replaces them
    assert not same_weights(whole, resumed)
    resumed_history = fit(resumed, train, test, augment=augment, resume=tmp_path / "ckpt-2.pt",
                          **options)
    assert same_weights(whole, resumed)
    assert resumed_history.train_loss == history.train_loss
    assert resumed_history.val_accuracy == history.val_accuracy
    assert resumed_history.lr == history.lr

    checkpoint = load_checkpoint(tmp_path / "ckpt-2.pt")
    assert checkpoint["epoch"] == 2 and checkpoint["config"]["scheduler"] == "cosine"
    assert set(checkpoint["rng"][0]) == {"python", "numpy", "torch", "augment"}
    assert History.from_dict(checkpoint["history"]).train_loss == history.train_loss[:2]


def test_resuming_needs_the_saved_state_to_match(digits, tmp_path):
    """Without the optimizer's momentum the resumed run ends elsewhere: the test above can fail."""
    train, _ = digits
    options = dict(epochs=3, seed=0, **QUIET)
    whole = small_net()
    fit(whole, train, checkpoint=tmp_path / "c{epoch}.pt", **options)
    checkpoint = load_checkpoint(tmp_path / "c1.pt")
    checkpoint["optimizer"]["state"] = {}
    torch.save(checkpoint, tmp_path / "c1-no-momentum.pt")
    resumed = small_net()
    fit(resumed, train, resume=tmp_path / "c1-no-momentum.pt", **options)
    assert not same_weights(whole, resumed)


def test_checkpoint_every_and_refusing_other_files(digits, tmp_path):
    train, _ = digits
    fit(small_net(), train, epochs=3, checkpoint=tmp_path / "e{epoch}.pt", checkpoint_every=2,
        **QUIET)
    assert sorted(os.listdir(tmp_path)) == ["e2.pt", "e3.pt"]  # every 2 epochs and the last
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a checkpoint written by"):
        load_checkpoint(tmp_path / "other.pt")


# --------------------------------------------------------------------------- GPU
@gpu_test
def test_training_on_cuda_uses_mixed_precision(digits, tmp_path):
    train, test = digits
    seed_everything(0)
    model = get_model("lenet")
    history = fit(model, train, test, epochs=5, device="cuda", progress=False,
                  checkpoint=tmp_path / "gpu.pt")
    assert history.amp is True and history.device.startswith("cuda")
    assert history.val_accuracy[-1] > 0.85
    assert next(model.parameters()).device.type == "cuda"
    assert evaluate(model, test)["accuracy"] == pytest.approx(history.val_accuracy[-1], abs=0.01)
    assert "cuda" in load_checkpoint(tmp_path / "gpu.pt")["rng"][0]
    full = get_model("lenet")
    fit(full, train, test, epochs=2, device="cuda", amp=False, progress=False)
    assert full.training


# --------------------------------------------------------------------------- several processes
DDP_SCRIPT = textwrap.dedent("""
    import sys
    import torch
    from cnncourse.data.datasets import DigitsDataset
    from cnncourse.registry import get_model
    from cnncourse.train import cleanup_distributed, fit, rank_and_world_size, seed_everything

    seed_everything(0)
    model = get_model("lenet")
    history = fit(model, DigitsDataset(True), DigitsDataset(False), epochs=4, device="cpu",
                  progress=False, checkpoint=sys.argv[1] + "/ddp.pt")
    rank, world_size = rank_and_world_size()
    torch.save({"state": model.state_dict(), "history": history.to_dict(), "world": world_size,
                "group": torch.distributed.is_initialized()}, f"{sys.argv[1]}/rank{rank}.pt")
    cleanup_distributed()
""")


@pytest.mark.slow
def test_distributed_data_parallel_with_two_cpu_processes(digits, tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(DDP_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(script), str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert all(r["world"] == 2 and r["group"] for r in ranks)
    # DDP averaged the gradients: both processes end with the same weights and the same numbers
    assert ranks[0]["state"].keys() == ranks[1]["state"].keys()
    assert all(torch.equal(ranks[0]["state"][k], ranks[1]["state"][k]) for k in ranks[0]["state"])
    assert ranks[0]["history"]["val_loss"] == ranks[1]["history"]["val_loss"]
    assert ranks[0]["history"]["world_size"] == 2
    # the metrics were summed over both shards: they are those of the whole test set
    _, test = digits
    model = get_model("lenet")
    model.load_state_dict(ranks[0]["state"])
    result = evaluate(model, test)
    assert result["accuracy"] == pytest.approx(ranks[0]["history"]["val_metrics"]["accuracy"][-1], abs=1e-9)
    assert result["loss"] == pytest.approx(ranks[0]["history"]["val_loss"][-1], rel=1e-5)
    assert result["accuracy"] > 0.5
    # only process 0 wrote the checkpoint, with the random states of both processes
    written = sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".pt", ".partial"))
    assert written == ["ddp.pt", "rank0.pt", "rank1.pt"]
    assert len(load_checkpoint(tmp_path / "ddp.pt")["rng"]) == 2


def test_training_data_under_torchrun_must_be_sharded(digits, monkeypatch):
    """A plain DataLoader under several processes would give every process all the data."""
    from cnncourse import train as train_module

    train, _ = digits
    monkeypatch.setattr(train_module, "setup_distributed", lambda device: True)
    monkeypatch.setattr(train_module, "rank_and_world_size", lambda: (0, 2))
    monkeypatch.setattr(train_module, "_shared_seed", lambda seed, distributed: 0)
    loader = torch.utils.data.DataLoader(train, batch_size=32, shuffle=True)
    with pytest.raises(ValueError, match="DistributedSampler"):
        fit(small_net(), loader, epochs=1, **QUIET)


# --------------------------------------------------------------------------- command line
def test_cli_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--model", "--data", "--epochs", "--device", "--batch-size", "--lr",
                   "--checkpoint", "--resume", "--amp", "--no-amp", "--seed", "--augment"):
        assert option in text
    assert "lenet" in text and "torchrun" in text


def test_cli_trains_for_one_epoch_and_resumes(capsys, tmp_path):
    argv = ["train", "--model", "lenet", "--data", "digits", "--epochs", "1", "--device", "cpu",
            "--no-progress", "--lr", "0.1", "--checkpoint", str(tmp_path / "cli.pt")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "device: cpu" in out and "mixed precision: off" in out and "processes: 1" in out
    first = float(re.search(r"test accuracy: ([0-9.]+)", out).group(1))
    assert 0.2 < first <= 1.0
    argv[argv.index("1")] = "3"
    assert main(argv + ["--resume", str(tmp_path / "cli.pt"), "--augment", "translate"]) == 0
    out = capsys.readouterr().out
    assert "3 epochs" in out
    assert float(re.search(r"test accuracy: ([0-9.]+)", out).group(1)) > first


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "epochs must be at least 1"),
    (["--device", "tpu"], "device must be"),
    (["--augment", "blur"], "--augment must list names"),
    (["--model", "nosuch"], "invalid choice"),
    (["--data", "imagenet"], "invalid choice"),
    (["--lr", "-1"], "lr must be > 0"),
    (["--data", "patches"], "lenet is a classification model but --data patches is a reconstruction task"),
])
def test_cli_refuses_bad_arguments(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--no-progress", "--device", "cpu"] + argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_python_dash_m_cnncourse_trains(tmp_path):
    command = [sys.executable, "-m", "cnncourse", "train", "--epochs", "1", "--device", "auto"]
    done = subprocess.run(command, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "device: " in done.stdout and "test accuracy: " in done.stdout
    assert "epoch 1/1" in done.stderr  # the progress bar


# --------------------------------------------------------------------------- metrics
def test_accuracy_on_arrays_and_tensors():
    outputs = np.array([[0.1, 0.7, 0.2], [0.5, 0.4, 0.1], [0.2, 0.3, 0.5], [0.1, 0.5, 0.4]])
    labels = np.array([1, 1, 2, 0])
    assert accuracy(outputs, labels) == 0.5
    assert accuracy(torch.tensor(outputs), torch.tensor(labels)) == 0.5
    assert accuracy(outputs, np.eye(3)[labels]) == 0.5  # one-hot targets
    assert accuracy(outputs, labels, k=2) == 0.75
    assert accuracy(torch.tensor(outputs), torch.tensor(labels), k=2) == 0.75
    assert accuracy(outputs, labels, k=3) == 1.0
    scores = torch.randn(2, 4, 5, 6)  # segmentation: the share of correct pixels
    pixels = scores.argmax(1)
    pixels[0, 0, 0] = (pixels[0, 0, 0] + 1) % 4
    assert accuracy(scores, pixels) == pytest.approx(1 - 1 / 60)
    assert accuracy(scores.numpy(), pixels.numpy()) == pytest.approx(1 - 1 / 60)


def test_accuracy_checks_its_arguments():
    with pytest.raises(ValueError, match="targets must have shape"):
        accuracy(np.zeros((4, 3)), np.zeros(5, int))
    with pytest.raises(TypeError, match="targets must be integer class labels"):
        accuracy(np.zeros((4, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="outputs must have a class axis"):
        accuracy(np.zeros(4), np.zeros(4, int))
    with pytest.raises(ValueError, match="k must be at most"):
        accuracy(np.zeros((4, 3)), np.zeros(4, int), k=4)
    with pytest.raises(TypeError, match="k must be an int"):
        accuracy(np.zeros((4, 3)), np.zeros(4, int), k=1.0)


# --------------------------------------------------------------------------- LeNet
def test_lenet_is_registered():
    assert "lenet" in list_models(family="lenet")
    info = model_info("lenet")
    assert info["input_size"] == (1, 8, 8) and info["chapter"] == "book/08-gpu"
    model = get_model("lenet", num_classes=6, in_channels=3, input_size=32)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 6)
    assert get_model("lenet", input_size=(8, 12))(torch.zeros(1, 1, 8, 12)).shape == (1, 10)


def test_lenet_matches_the_numpy_network_weight_for_weight(digits):
    _, test = digits
    scratch = scratch_lenet(in_channels=1, num_classes=10, input_size=8, rng=0)
    model = LeNet(input_size=8).double()
    assert sum(p.numel() for p in model.parameters()) == scratch.num_parameters() == 11582
    load_scratch_weights(model, scratch)
    x = test.images[:50].double()
    assert np.allclose(model(x).detach().numpy(), scratch.forward(x.numpy()), rtol=1e-10, atol=1e-12)

    with torch.no_grad():  # change the torch weights, then copy them back
        for p in model.parameters():
            p.mul_(0.5)
    export_scratch_weights(model, scratch)
    assert np.allclose(model(x).detach().numpy(), scratch.forward(x.numpy()), rtol=1e-10, atol=1e-12)


def test_lenet_initialisation_follows_the_numpy_network():
    seed_everything(0)
    conv = LeNet(channels=(64, 64), input_size=8)[3]
    assert float(conv.bias.detach().abs().max()) == 0.0
    expected = (2.0 / (64 * 25)) ** 0.5
    assert float(conv.weight.detach().std()) == pytest.approx(expected, rel=0.05)


def test_lenet_checks_its_arguments():
    with pytest.raises(ValueError, match="input_size"):
        LeNet(input_size=3)
    with pytest.raises(TypeError, match="num_classes"):
        LeNet(num_classes=2.5)
    with pytest.raises(ValueError, match="different layers"):
        load_scratch_weights(LeNet(hidden=10), scratch_lenet(input_size=8, rng=0)[:-1])
    with pytest.raises(ValueError, match="has shape"):
        load_scratch_weights(LeNet(hidden=10), scratch_lenet(input_size=8, rng=0))
    with pytest.raises(TypeError, match="scratch must be a scratch network"):
        load_scratch_weights(LeNet(), LeNet())
