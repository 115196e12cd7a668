"""Divergence never goes unnoticed: non-finite hyperparameters are refused before anything runs, a NaN or
infinite loss (or weights) stops the run with exit status 3 and keeps the last good checkpoint, data holding
NaN is refused, and every JSON file a run writes is strict JSON."""

import json
import math

import numpy as np
import pytest

from command_output import assert_one_line
from softgrad.cli.main import EXIT_DIVERGED, main
from softgrad.training import TrainConfig, Trainer, checkpoint, jsonfiles
from softgrad.training import loop as training_loop
from softgrad.training.loop import TrainingDiverged

QUICK = ["--hidden", "32", "--batch-size", "64", "--no-progress"]
SMALL = dict(dataset="digits", hidden=(16,), epochs=2, batch_size=64)  # 23 steps per epoch


def strict_json(path):
    """The JSON in ``path``, refusing NaN and Infinity as strict parsers do."""
    def refuse(name):
        raise AssertionError(f"{path} holds bare {name}")
    return json.loads(path.read_text(), parse_constant=refuse)


def test_a_huge_learning_rate_stops_the_run_with_exit_3_and_saves_no_nan(tmp_path, capsys):
    out = tmp_path / "run"
    options = ["--lr", "1e6", "--epochs", "1", "--batch-size", "64", "--no-progress"]  # the default MLP 256-128
    assert main(["train", *options, "--out", str(out)]) == EXIT_DIVERGED
    captured = capsys.readouterr()
    assert_one_line(captured.err, "training diverged: the training loss is", "at epoch 1, step",
                    "no checkpoint had been written yet", "Lower --lr (it is 1e+06)")
    assert "test accuracy" not in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]  # no NaN weights, no metrics
    assert strict_json(out / "config.json")["lr"] == 1e6


@pytest.mark.parametrize("option, value, message", [
    ("--lr", "nan", "lr must be > 0 (a finite number; --lr), got nan"),
    ("--lr", "inf", "lr must be > 0 (a finite number; --lr), got inf"),
    ("--lr", "-0.1", "lr must be > 0"),
    ("--momentum", "nan", "momentum must be in [0, 1) (a finite number; --momentum), got nan"),
    ("--momentum", "1", "momentum must be in [0, 1)"),
    ("--weight-decay", "inf", "weight_decay must be >= 0 (a finite number; --weight-decay), got inf"),
    ("--eps", "1e-8", "eps (--eps) is a hyperparameter of adam, adamw, rmsprop, adagrad, adadelta, not of sgd"),
    ("--rho", "0.5", "rho (--rho) is a hyperparameter of adadelta, not of sgd; got 0.5"),
    ("--betas", "0.9,1", "betas (--betas) is a hyperparameter of adam, adamw, not of sgd"),
    ("--weight-decay", "-1", "weight_decay must be >= 0"),
    ("--dropout", "nan", "dropout must be in [0, 1), a drop probability"),
    ("--warmup-epochs", "inf", "warmup_epochs must be in [0, 2): the warm-up ends within --epochs"),
    ("--warmup-epochs", "2", "warmup_epochs must be in [0, 2)"),
    ("--warmup-epochs", "nan", "warmup_epochs must be in [0, 2)"),
])
def test_non_finite_or_out_of_range_hyperparameters_are_refused_before_anything_runs(tmp_path, capsys, option,
                                                                                      value, message):
    out = tmp_path / "run"
    assert main(["train", option, value, "--epochs", "2", "--out", str(out), *QUICK]) == 1
    assert_one_line(capsys.readouterr().err, "softgrad train: error: " + message)
    assert not out.exists()


def test_train_config_checks_types_and_finiteness_as_from_json():
    for values, message in [({"lr": float("nan")}, "lr must be > 0"), ({"lr": "0.1"}, "lr must be > 0 .* got '0.1'"),
                            ({"lr": 10**400}, "lr must be > 0"), ({"epochs": 1.5}, "epochs must be >= 1"),
                            ({"epochs": True}, "epochs must be >= 1"), ({"hidden": "abc"}, "hidden must be"),
                            ({"hidden": [8, -1]}, "hidden must be"), ({"model": ["mlp"]}, "model must be one of"),
                            ({"threads": 10**30}, "threads must be in 1..1024"),
                            ({"download": "yes"}, "download .* must be true or false"),
                            ({"input_shape": [1, 8]}, "input_shape must be 3 positive integers"),
                            ({"num_classes": 3, "class_names": ["a"]}, "class_names has 1 names for num_classes = 3"),
                            ({"optimizer": "adam", "betas": [0.9]}, "betas must be two numbers in .0, 1."),
                            ({"optimizer": "adam", "betas": [0.9, float("nan")]}, "betas must be two numbers"),
                            ({"optimizer": "rmsprop", "alpha": 2}, "alpha must be in .0, 1."),
                            ({"optimizer": "adam", "eps": 0}, "eps must be > 0 .*--eps.*got 0"),
                            ({"optimizer": "adadelta", "eps": float("nan")}, "eps must be > 0"),
                            ({"optimizer": "rmsprop", "centered": 1}, "centered .* must be true or false"),
                            ({"optimizer": "adagrad", "lr_decay": -1}, "lr_decay must be >= 0"),
                            ({"optimizer": "adam", "momentum": 0.5}, "momentum .* of sgd, momentum, rmsprop, not "
                                                                     "of adam")]:
        with pytest.raises(ValueError, match=message):
            TrainConfig.from_dict(values)


def quiet(config, run_dir, **kwargs):
    return Trainer(config, run_dir, progress=False, log=lambda line: None, **kwargs)


def test_a_nan_loss_mid_run_keeps_the_last_good_checkpoint(tmp_path):
    run = tmp_path / "run"
    saved = {}

    def poison(trainer):
        if trainer.global_step == 24:  # the first step of epoch 2: epoch 1's checkpoint is on disk
            saved["checkpoint"] = (run / "checkpoint.safetensors").read_bytes()
        if trainer.global_step == 30:
            trainer.model.trainable_params()[0].numpy()[0, 0] = np.nan

    with pytest.raises(TrainingDiverged, match=r"the training loss is nan at epoch 2, step 8\. Nothing was saved; the "
                                               r"last good checkpoint, from the end of epoch 1, is kept in"):
        quiet(TrainConfig(**SMALL), run, on_step=poison).run()
    assert (run / "checkpoint.safetensors").read_bytes() == saved["checkpoint"]
    assert not (run / "model.safetensors").exists() and not (run / "metrics.json").exists()
    config = TrainConfig.load(run / "config.json")
    from softgrad.training.runs import load_run

    _, model = load_run(run)
    assert all(np.isfinite(p.numpy()).all() for p in model.trainable_params())
    assert config.epochs == 2


def test_nan_weights_at_the_end_of_an_epoch_are_not_saved(tmp_path):
    def poison(trainer):
        if trainer.global_step == 23:  # the last step of epoch 1, after its loss was computed
            trainer.model.trainable_params()[-1].numpy()[0] = np.inf

    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"parameter '.*' holds NaN or infinite values at the end of epoch 1\. "
                                               r"Nothing was saved; no checkpoint had been written yet"):
        quiet(TrainConfig(**SMALL), run, on_step=poison).run()
    assert not (run / "checkpoint.safetensors").exists()


def test_one_nan_pixel_in_the_data_is_refused_before_training(tmp_path, monkeypatch, capsys):
    load_dataset = training_loop.load_dataset

    def with_a_nan_pixel(*args, **kwargs):
        x_train, y_train, x_test, y_test, classes = load_dataset(*args, **kwargs)
        x_train[5, 0, 3, 3] = np.nan
        return x_train, y_train, x_test, y_test, classes

    monkeypatch.setattr(training_loop, "load_dataset", with_a_nan_pixel)
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(out), *QUICK]) == 1
    assert_one_line(capsys.readouterr().err, "the digits training images hold NaN or infinite values (1 images, the "
                                             "first at index 5)")
    assert not (out / "config.json").exists()


def test_non_finite_metrics_are_written_as_null(tmp_path, monkeypatch):
    evaluate = training_loop.evaluate

    def infinite_test_loss(*args, **kwargs):  # a finite model whose test loss overflows
        return dict(evaluate(*args, **kwargs), loss=math.inf)

    monkeypatch.setattr(training_loop, "evaluate", infinite_test_loss)
    metrics = quiet(TrainConfig(**dict(SMALL, epochs=1)), tmp_path / "run").run()
    assert metrics["test_loss"] == math.inf
    saved = strict_json(tmp_path / "run" / "metrics.json")
    assert saved["test_loss"] is None and saved["history"]["test_loss"] == [None]
    assert saved["history"]["train_loss"][0] > 0
    tensors, metadata = checkpoint.read_safetensors(tmp_path / "run" / "checkpoint.safetensors")
    assert jsonfiles.loads(metadata["softgrad"], "checkpoint")["progress"]["history"]["test_loss"] == [None]


def test_resuming_a_history_with_nulls_works(tmp_path, monkeypatch):
    evaluate = training_loop.evaluate
    monkeypatch.setattr(training_loop, "evaluate", lambda *a, **k: dict(evaluate(*a, **k), loss=math.nan))
    quiet(TrainConfig(**dict(SMALL, epochs=1)), tmp_path / "run").run()
    config = TrainConfig.load(tmp_path / "run" / "config.json")
    config.epochs = 2
    metrics = quiet(config, tmp_path / "run").run(resume=True)
    assert strict_json(tmp_path / "run" / "metrics.json")["history"]["test_loss"] == [None, None]
    assert metrics["history"]["epoch"] == [1, 2]
