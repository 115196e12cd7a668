"""The `softgrad` command: train → evaluate → predict on the embedded digits (one short epoch), argument
errors, and a real Ctrl-C (SIGINT) through a subprocess followed by an exact --resume."""

import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from softgrad.cli.main import EXIT_INTERRUPTED, main
from softgrad.training import TrainConfig, Trainer

QUICK = ["--hidden", "32", "--batch-size", "64", "--no-progress"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A digits MLP trained for 4 epochs through the command line (shared by the tests below)."""
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "--epochs", "4", "--out", str(out), *QUICK]) == 0
    return out


def test_train_prints_progress_and_writes_the_run(run_dir, capsys):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.85
    for name in ("model.safetensors", "config.json", "curves.png", "confusion.png", "checkpoint.safetensors"):
        assert (run_dir / name).exists()
    assert json.loads((run_dir / "config.json").read_text())["hidden"] == [32]


def test_train_output_lines(tmp_path, capsys):
    assert main(["train", "--epochs", "1", "--out", str(tmp_path / "r"), *QUICK]) == 0
    out = capsys.readouterr().out
    assert "epoch   1/1" in out and "test accuracy" in out and f"run directory: {tmp_path / 'r'}" in out


def test_evaluate_reports_the_saved_accuracy(run_dir, capsys):
    assert main(["evaluate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    accuracy = json.loads((run_dir / "metrics.json").read_text())["test_accuracy"]
    assert f"test accuracy {100 * accuracy:.2f}%" in out
    assert "confusion matrix" in out and len(out.splitlines()) >= 14


def test_predict_reads_images_of_digits(run_dir, tmp_path, capsys):
    from PIL import Image

    from softgrad.data import load_digits

    _, _, x_test, y_test = load_digits(flatten=False)
    paths = []
    for i in range(12):  # dark ink on white paper, 80x80
        picture = 255 * (1 - np.kron(x_test[i, 0], np.ones((10, 10))))
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(picture.astype(np.uint8)).convert("RGB").save(path)
        paths.append(str(path))
    assert main(["predict", str(run_dir), *paths]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 * len(paths)
    predicted = [int(line.split(": ")[1].split()[0]) for line in lines[::2]]
    assert np.mean(np.array(predicted) == y_test[:12]) >= 0.75
    probabilities = [float(part.split(": ")[1].rstrip("%")) for part in lines[1].split("  ") if part]
    assert len(probabilities) == 10 and abs(sum(probabilities) - 100) < 0.5


def test_errors_exit_1_with_the_fix(run_dir, tmp_path, capsys):
    assert main(["train", "--resume", str(run_dir), "--lr", "0.1"]) == 1
    assert "--lr" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path)]) == 1
    assert "not a run directory" in capsys.readouterr().err
    assert main(["train", "--out", str(run_dir), *QUICK]) == 1
    assert "--resume" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--hidden", "a,b"])
    with pytest.raises(SystemExit):
        main(["train", "--model", "resnet"])


def test_ctrl_c_saves_a_checkpoint_and_resume_is_exact(tmp_path):
    run = tmp_path / "interrupted"
    options = ["--hidden", "16", "--batch-size", "64", "--lr-schedule", "constant", "--dropout", "0.1"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "softgrad", "train", "--epochs", "100000", "--out", str(run),
                                "--no-progress", *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    for line in process.stdout:  # wait for the first finished epoch, then press Ctrl-C
        if line.startswith("epoch"):
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "checkpoint saved" in out and "Traceback" not in err
    assert json.loads((run / "config.json").read_text())["epochs"] == 100000
    stopped_epoch = int(re.search(r"stopped at epoch (\d+), step", out).group(1))

    epochs = stopped_epoch + 2  # continue (with fewer epochs in all) past the stop, then compare
    assert main(["train", "--resume", str(run), "--epochs", str(epochs), "--no-progress"]) == 0
    straight = tmp_path / "straight"
    Trainer(TrainConfig(hidden=(16,), batch_size=64, lr_schedule="constant", dropout=0.1, epochs=epochs), straight,
            progress=False, log=lambda line: None).run()
    assert (run / "model.safetensors").read_bytes() == (straight / "model.safetensors").read_bytes()


def test_python_dash_m_softgrad_help():
    result = subprocess.run([sys.executable, "-m", "softgrad", "train", "--help"], capture_output=True, text=True,
                            check=True)
    assert "--resume" in result.stdout and "--dataset" in result.stdout
