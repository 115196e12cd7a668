"""The `softgrad` command: train → evaluate → predict on the embedded digits (one short epoch), argument
errors, and a real Ctrl-C (SIGINT) through a subprocess followed by an exact --resume."""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from command_output import assert_one_line
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


def test_train_takes_every_optimizer_and_its_hyperparameters(tmp_path, capsys):
    out = tmp_path / "adadelta"
    assert main(["train", "--epochs", "1", "--optimizer", "adadelta", "--rho", "0.95", "--eps", "1e-5", "--out",
                 str(out), *QUICK]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["optimizer"], config["rho"], config["eps"], config["momentum"]) == ("adadelta", 0.95, 1e-5, None)
    assert main(["train", "--optimizer", "adam", "--nesterov", "--out", str(tmp_path / "no"), *QUICK]) == 1
    assert_one_line(capsys.readouterr().err, "nesterov (--nesterov) is a hyperparameter of sgd, momentum, not of adam")


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


# ----- one line, never a traceback (issue 12) -----


def copy_run(run_dir, tmp_path):
    import shutil

    shutil.copytree(run_dir, tmp_path / "copy")
    return tmp_path / "copy"


def snapshot(directory):
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_resuming_a_finished_run_says_so_and_changes_nothing(run_dir, tmp_path, capsys):
    run = copy_run(run_dir, tmp_path)
    before = snapshot(run)
    assert main(["train", "--resume", str(run), "--no-progress"]) == 1
    assert_one_line(capsys.readouterr().err, f"{run} is complete: it trained all 4 epochs; nothing was changed",
                    f"pass a larger --epochs: softgrad train --resume {run} --epochs 14")
    assert main(["train", "--resume", str(run), "--epochs", "3", "--no-progress"]) == 1
    assert_one_line(capsys.readouterr().err, "has trained 4 epochs already, so --epochs 3 leaves nothing to train")
    assert snapshot(run) == before


def test_extending_a_cosine_run_says_the_schedule_is_recomputed(run_dir, tmp_path, capsys):
    run = copy_run(run_dir, tmp_path)
    assert main(["train", "--resume", str(run), "--epochs", "5", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert ("the cosine schedule is recomputed for 5 epochs: the learning rate at step 92 is now 0.00477, it was 0"
            in out)
    assert json.loads((run / "metrics.json").read_text())["history"]["epoch"] == [1, 2, 3, 4, 5]
    assert "--epochs extends a run" in subprocess.run([sys.executable, "-m", "softgrad", "train", "--help"],
                                                      capture_output=True, text=True).stdout.replace("\n", " ")


def write_small_mnist(directory):
    from softgrad.data import write_idx

    rng = np.random.default_rng(0)
    for split, n in (("train", 64), ("t10k", 16)):
        write_idx(directory / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(directory / f"{split}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))


def test_a_relative_data_dir_is_stored_resolved_and_evaluate_needs_only_the_test_files(tmp_path, monkeypatch,
                                                                                       capsys):
    (tmp_path / "work" / "mnist").mkdir(parents=True)
    write_small_mnist(tmp_path / "work" / "mnist")
    monkeypatch.chdir(tmp_path / "work")
    assert main(["train", "--dataset", "mnist", "--data-dir", "mnist", "--epochs", "1", "--out", "run", *QUICK]) == 0
    assert json.loads(Path("run", "config.json").read_text())["data_dir"] == str(tmp_path / "work" / "mnist")
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (tmp_path / "work" / "mnist" / name).unlink()
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "work" / "run")]) == 0
    assert "on the mnist test set (16 images)" in capsys.readouterr().out


def test_download_without_a_network_is_one_line(tmp_path, monkeypatch, capsys):
    import urllib.error

    import softgrad.data.datasets as datasets

    def offline(url):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(datasets, "_fetch", offline)
    assert main(["train", "--dataset", "mnist", "--download", "--data-dir", str(tmp_path / "data"), "--out",
                 str(tmp_path / "run"), *QUICK]) == 1
    assert_one_line(capsys.readouterr().err, "could not download MNIST file", "Temporary failure in name resolution",
                    "check the network connection")


@pytest.fixture
def no_data_loading(monkeypatch):
    """Fail the test if the training data are loaded (the checks must come first)."""
    from softgrad.training import loop

    def refuse(*args, **kwargs):
        raise AssertionError("the data were loaded before the run directory was checked")

    monkeypatch.setattr(loop, "load_dataset", refuse)


def make_read_only(directory, monkeypatch):
    """Make ``directory`` read-only even for root (chmod, else chattr +i; else the write probe fails)."""
    import errno
    import shutil
    import tempfile

    def writable():
        try:
            with tempfile.TemporaryFile(dir=directory):
                return True
        except OSError:
            return False

    directory.chmod(0o555)
    if writable() and shutil.which("chattr"):
        subprocess.run(["chattr", "+i", str(directory)], capture_output=True)
    if writable():
        def read_only(*args, **kwargs):
            raise OSError(errno.EROFS, "Read-only file system")

        monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    return lambda: subprocess.run(["chattr", "-i", str(directory)], capture_output=True) if shutil.which(
        "chattr") else None


def test_a_read_only_out_is_refused_before_loading_data(tmp_path, monkeypatch, capsys, no_data_loading):
    (tmp_path / "ro").mkdir()
    undo = make_read_only(tmp_path / "ro", monkeypatch)
    try:
        assert main(["train", "--out", str(tmp_path / "ro" / "run"), *QUICK]) == 1
    finally:
        undo()
        (tmp_path / "ro").chmod(0o755)
    assert_one_line(capsys.readouterr().err, "softgrad train: error: ", "pass another --out")


def test_a_full_out_is_refused_before_loading_data(tmp_path, monkeypatch, capsys, no_data_loading):
    import types

    monkeypatch.setattr(os, "statvfs", lambda path: types.SimpleNamespace(f_bavail=10, f_frsize=4096))
    assert main(["train", "--out", str(tmp_path / "run"), *QUICK]) == 1
    assert_one_line(capsys.readouterr().err, f"cannot write the run directory {tmp_path / 'run'}: ",
                    "has 40,960 bytes free, about", "are needed; pass another --out")
    assert main(["train", "--hidden", "60000,60000", "--out", str(tmp_path / "big"), "--no-progress"]) == 1
    assert_one_line(capsys.readouterr().err, "float32 weights of the mlp (--hidden 60000,60000", "above the cap")


def png_bomb(width: int, height: int) -> bytes:
    """A PNG whose header announces width × height 1-bit pixels, with a few bytes of data."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(1000)))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("not a picture"), "cannot read it as a picture (UnidentifiedImageError"),
    (lambda p: p.write_bytes(b""), "cannot read it as a picture"),
    (lambda p: p.mkdir(), "is a directory, expected a file"),
    (lambda p: p.write_bytes(png_bomb(12000, 12000)), "12000×12000 = 144,000,000 pixels, more than the 67,108,864"),
    (lambda p: p.write_bytes(png_bomb(30000, 30000)), "(DecompressionBombError: Image size (900000000 pixels)"),
])
def test_bad_images_in_predict_are_one_line_naming_the_file(run_dir, tmp_path, capsys, make, message):
    path = tmp_path / "digit.png"
    make(path)
    assert main(["predict", str(run_dir), str(path)]) == 1
    assert_one_line(capsys.readouterr().err, f"softgrad predict: error: {path}", message)


def test_a_truncated_image_in_predict_is_one_line(run_dir, tmp_path, capsys):
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "a.png").write_bytes(data[:len(data) // 2])
    assert main(["predict", str(run_dir), str(tmp_path / "a.png")]) == 1
    assert_one_line(capsys.readouterr().err, f"{tmp_path / 'a.png'}: cannot read it as a picture")


def test_class_names_with_control_characters_are_escaped(run_dir, tmp_path, capsys):
    from PIL import Image

    run = copy_run(run_dir, tmp_path)
    config = json.loads((run / "config.json").read_text())
    config["class_names"] = ["\x1b[2J\x1b[31mzero", "one\nline"] + config["class_names"][2:]
    (run / "config.json").write_text(json.dumps(config))
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "blank.png")
    assert main(["predict", str(run), str(tmp_path / "blank.png")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2J\\x1b[31mzero: " in out and "one\\nline: " in out
    assert len(out.splitlines()) == 2


def test_the_threads_recorded_are_the_threads_that_run(tmp_path):
    """With OPENBLAS_NUM_THREADS=1 in the environment, --threads 2 used to record 2 and run 1."""
    code = ("import json, sys; from softgrad.training import TrainConfig, Trainer\n"
            "from softgrad.training.threads import running_blas_threads\n"
            "seen = set()\n"
            "Trainer(TrainConfig(hidden=(8,), epochs=1, threads=2), sys.argv[1], progress=False,\n"
            "        on_step=lambda t: seen.add(running_blas_threads())).run()\n"
            "print(json.dumps(sorted(seen)))\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True,
                            env=dict(os.environ, OPENBLAS_NUM_THREADS="1"), timeout=120)
    assert result.returncode == 0, result.stderr
    (running,) = json.loads(result.stdout.splitlines()[-1])
    assert json.loads((tmp_path / "run" / "config.json").read_text())["threads"] == running


# ----- the command's own options, and pictures as people make them -----


def test_version_and_a_bare_command(capsys):
    import softgrad

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out == f"softgrad {softgrad.__version__}\n"
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: softgrad") and "predict" in out and "--version" in out


def digit_picture(index: int):
    """Digit ``index`` of the embedded test set as 80×80 ink coverage in [0, 1], and its label."""
    from softgrad.data import load_digits

    _, _, x_test, y_test = load_digits(flatten=False)
    return np.kron(x_test[index, 0], np.ones((10, 10))), int(y_test[index])


def predictions(out: str) -> list[int]:
    return [int(line.split(": ")[1].split()[0]) for line in out.splitlines()[::2]]


def test_predict_a_directory_of_pictures_drawn_on_transparent_or_uneven_backgrounds(run_dir, tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "pictures"
    folder.mkdir()
    labels = []
    ramp = np.linspace(0.0, 1.0, 80)
    for i in range(12):
        ink, label = digit_picture(i)
        labels.append(label)
        rgba = np.zeros((80, 80, 4), np.uint8)  # black strokes on a transparent canvas (black underneath)
        rgba[..., 3] = (255 * ink).astype(np.uint8)
        Image.fromarray(rgba, "RGBA").save(folder / f"{i:02d}-transparent.png")
        paper = 0.5 + 0.35 * ramp[None, :] + 0.1 * ramp[:, None]  # grey paper lit from one corner
        photo = np.clip(paper - 0.35 * ink, 0, 1)
        Image.fromarray((255 * photo).astype(np.uint8)).save(folder / f"{i:02d}-photo.jpg", quality=95)
    (folder / "notes.txt").write_text("not a picture: skipped")
    assert main(["predict", str(run_dir), str(folder)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 2 * 24 and lines[0].startswith(str(folder / "00-photo.jpg"))
    predicted = np.array(predictions(captured.out)).reshape(12, 2)
    for column in range(2):  # the photos, then the transparent drawings
        assert np.mean(predicted[:, column] == np.array(labels)) >= 0.75
    assert captured.err == ""


def test_a_blank_picture_is_predicted_with_a_warning(run_dir, tmp_path, capsys):
    from PIL import Image

    Image.fromarray(np.full((40, 40), 200, np.uint8)).save(tmp_path / "blank.png")
    Image.fromarray(np.zeros((40, 40, 4), np.uint8), "RGBA").save(tmp_path / "empty.png")  # all transparent
    assert main(["predict", str(run_dir), str(tmp_path / "blank.png"), str(tmp_path / "empty.png")]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 4
    warnings = captured.err.splitlines()
    assert len(warnings) == 2 and all(line.startswith("softgrad predict: warning: ") for line in warnings)
    assert f"{tmp_path / 'blank.png'} looks blank" in warnings[0] and "empty.png looks blank" in warnings[1]


def test_a_directory_without_pictures_is_one_line(run_dir, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no pictures here")
    assert main(["predict", str(run_dir), str(tmp_path)]) == 1
    assert_one_line(capsys.readouterr().err, f"softgrad predict: error: {tmp_path} is a directory", ".png")
