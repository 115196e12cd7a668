"""Hostile and damaged files: run directories and IDX files that lie about their sizes, hold the wrong dtypes,
point at devices, or are cut short. Each is refused with one clear line naming the file, before anything it
describes is allocated — which the tests assert with an address-space limit, not a clock — and the fuzzers
throw thousands of mutated files at the IDX reader and the run-directory loader under the same limit."""

import contextlib
import gzip
import json
import resource
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import softgrad as sg
from command_output import assert_one_line
from softgrad.cli.main import main
from softgrad.data import read_idx
from softgrad.random import Generator
from softgrad.training import TrainConfig, Trainer, build_model
from softgrad.training.runs import load_run

MEMORY_HEADROOM = 512 << 20  # what a test may allocate beyond what the process has mapped when it starts


def _mapped_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmSize in /proc/self/status")


@contextlib.contextmanager
def bounded_memory(headroom: int = MEMORY_HEADROOM):
    """Inside the block, mapping more than ``headroom`` new bytes raises MemoryError (RLIMIT_AS)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _mapped_bytes() + headroom
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_bounded_memory_catches_a_large_allocation():
    with bounded_memory(), pytest.raises(MemoryError):
        np.ones(1 << 30, dtype=np.uint8)


# ----- a run directory to damage -----


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    """A digits MLP trained for one short epoch; the tests copy it and damage the copy."""
    run = tmp_path_factory.mktemp("hostile") / "run"
    Trainer(TrainConfig(hidden=(8,), epochs=1, batch_size=256), run, progress=False, log=lambda line: None).run()
    return run


@pytest.fixture
def run(good_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(good_run, copy)
    return copy


def command_fails(argv, capsys, *parts):
    """``softgrad argv`` exits 1 with one line on stderr holding every part (and nothing allocated past the
    headroom on the way)."""
    with bounded_memory():
        status = main(argv)
    err = capsys.readouterr().err
    assert status == 1, err
    assert_one_line(err, *parts)


def split_safetensors(data: bytes) -> tuple[dict, bytes]:
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length]), data[8 + length:]


def join_safetensors(header: dict, body: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def edit_config(run: Path, **changes) -> None:
    config = json.loads((run / "config.json").read_text())
    config.update(changes)
    (run / "config.json").write_text(json.dumps(config))


# ----- config.json -----


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", "config.json must hold a JSON object of settings, got list [1, 2]"),
    ("null", "config.json must hold a JSON object of settings, got NoneType None"),
    ('{"model": "mlp",', "config.json (..): not valid JSON"),
    ('{"lr": NaN}', "config.json (..): not valid JSON (NaN is not JSON"),
    ('{"hidden": "abc"}', "config.json: hidden must be positive layer widths"),
    ('{"epochs": "3"}', "config.json: epochs must be >= 1 (an integer; --epochs), got '3'"),
    ('{"dataset": "digits"}', "config.json has no input_shape, num_classes, class_names"),
    ('{"modle": "mlp"}', "config.json: unknown config keys ['modle']"),
])
def test_a_bad_config_json_is_one_line_naming_it(run, capsys, text, message):
    (run / "config.json").write_text(text)
    before, _, after = message.partition(" (..)")
    command_fails(["evaluate", str(run)], capsys, before, after)


def test_a_config_with_a_huge_model_is_refused_before_allocating(run, capsys):
    edit_config(run, hidden=[60000, 60000])
    command_fails(["evaluate", str(run)], capsys, "float32 weights of the mlp (--hidden 60000,60000",
                  "above the cap of 1,073,741,824 bytes", "SOFTGRAD_MAX_BYTES=")


def test_a_config_with_a_huge_input_is_refused(run, capsys):
    edit_config(run, input_shape=[1, 10**6, 10**6])
    command_fails(["predict", str(run), str(run / "curves.png")], capsys,
                  "one input image of shape (1, 1000000, 1000000)", "above the cap")


@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_a_file_symlinked_to_dev_zero_is_not_read(run, capsys, name):
    (run / name).unlink()
    (run / name).symlink_to("/dev/zero")
    command_fails(["evaluate", str(run)], capsys, f"{name} is a character device, expected a file")


@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_a_directory_where_a_file_is_expected(run, capsys, name):
    (run / name).unlink()
    (run / name).mkdir()
    command_fails(["evaluate", str(run)], capsys, f"{name} is a directory, expected a file")


# ----- model.safetensors -----


def test_a_sparse_8_gib_model_file_is_not_read(run, capsys):
    with open(run / "model.safetensors", "r+b") as f:
        f.truncate(8 << 30)
    command_fails(["evaluate", str(run)], capsys, "model.safetensors is 8,589,934,592 bytes, above the cap")


@pytest.mark.parametrize("cut", [0, 5, 100, -1])
def test_a_truncated_model_file_names_the_file(run, capsys, cut):
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[:cut])
    command_fails(["evaluate", str(run)], capsys, str(run / "model.safetensors"), "damaged or truncated")


def test_a_model_file_of_random_bytes_names_the_file(run, capsys):
    (run / "model.safetensors").write_bytes(np.random.default_rng(0).bytes(5000))
    command_fails(["evaluate", str(run)], capsys, str(run / "model.safetensors"))


@pytest.mark.parametrize("dtype", [np.int8, np.bool_, np.float64])
def test_weights_of_another_dtype_are_not_cast(run, capsys, dtype):
    import safetensors.numpy

    tensors = safetensors.numpy.load((run / "model.safetensors").read_bytes())
    tensors["1.weight"] = tensors["1.weight"].astype(dtype)
    (run / "model.safetensors").write_bytes(safetensors.numpy.save(tensors))
    command_fails(["evaluate", str(run)], capsys, "model.safetensors: tensor '1.weight' is stored as "
                  f"{np.dtype(dtype)}, the model's parameter is float32")


def test_bf16_weights_are_named_not_a_key_error(run, capsys):
    header, body = split_safetensors((run / "model.safetensors").read_bytes())
    entry = header["1.weight"]
    start, end = entry["data_offsets"]
    entry.update(dtype="BF16", shape=[entry["shape"][0], 2 * entry["shape"][1]])  # the same bytes, read as bf16
    (run / "model.safetensors").write_bytes(join_safetensors(header, body))
    command_fails(["evaluate", str(run)], capsys, "model.safetensors: tensor '1.weight' is stored as BF16")


def test_offsets_beyond_the_file_are_refused(run, capsys):
    header, body = split_safetensors((run / "model.safetensors").read_bytes())
    header["1.weight"]["data_offsets"] = [0, 10**12]
    (run / "model.safetensors").write_bytes(join_safetensors(header, body))
    command_fails(["evaluate", str(run)], capsys, "tensor '1.weight': data_offsets must be [begin, end] within")


# ----- checkpoint.safetensors -----


def edit_checkpoint(run: Path, edit) -> None:
    """Apply ``edit(metadata)`` to the checkpoint's softgrad metadata (a dict) and write it back."""
    header, body = split_safetensors((run / "checkpoint.safetensors").read_bytes())
    saved = json.loads(header["__metadata__"]["softgrad"])
    edit(saved)
    header["__metadata__"]["softgrad"] = json.dumps(saved)
    (run / "checkpoint.safetensors").write_bytes(join_safetensors(header, body))


def resume(run):
    return ["train", "--resume", str(run), "--epochs", "2", "--no-progress"]


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["optimizer"].update(num_states=10**9), "'num_states' is 1000000000, the model has 4 trainable"),
    (lambda m: m["optimizer"]["hyperparameters"].update(momentum=-5),
     "the checkpoint's optimizer has momentum = -5, the run's config.json gives 0.9"),
    (lambda m: m["optimizer"]["hyperparameters"].update(update=1),
     "the checkpoint's optimizer has hyperparameters ['dampening', 'momentum', 'nesterov', 'update', 'weight_decay']"),
    (lambda m: m["optimizer"].update(step_count="many"), "'step_count' must be an integer >= 0, got 'many'"),
    (lambda m: m["optimizer"].update(lr=None), "'lr' must be a finite number >= 0, got None"),
    (lambda m: m["optimizer"].update(parameters=[]), "has unknown fields ['parameters']"),
    (lambda m: m["progress"].update(epoch=-1), "'epoch' must be an integer >= 0, got -1"),
    (lambda m: m["progress"].update(global_step=5), "do not fit this run's 6 steps per epoch"),
    (lambda m: m["progress"]["history"].update(train_loss=["x"]), "history 'train_loss' entries must be a number"),
    (lambda m: m["progress"].update(dropout_generator={"state": 1}), "'dropout_generator' is not the state of a"),
    (lambda m: m["progress"].update(schedule={"last_epoch": 10**9}), "last_epoch 1000000000 must be the global step"),
    (lambda m: m.pop("progress"), "'progress' is missing"),
    (lambda m: m.clear() or m.update(optimizer=[]), "'optimizer' must be an object, got []"),
])
def test_malformed_checkpoint_metadata_is_one_line_and_changes_nothing(run, capsys, edit, message):
    (run / "metrics.json").unlink()  # an unfinished run, so that --resume reads the checkpoint
    edit_checkpoint(run, edit)
    before = {path.name: path.read_bytes() for path in run.iterdir()}
    command_fails(resume(run), capsys, "checkpoint.safetensors", message)
    assert {path.name: path.read_bytes() for path in run.iterdir()} == before


def test_checkpoint_metadata_that_is_not_json(run, capsys):
    header, body = split_safetensors((run / "checkpoint.safetensors").read_bytes())
    header["__metadata__"]["softgrad"] = "{not json"
    (run / "checkpoint.safetensors").write_bytes(join_safetensors(header, body))
    (run / "model.safetensors").unlink()  # evaluate falls back to the checkpoint
    command_fails(["evaluate", str(run)], capsys, "checkpoint.safetensors (metadata 'softgrad'): not valid JSON")


def test_a_checkpoint_with_a_foreign_tensor_is_refused(run, capsys):
    import safetensors.numpy

    data = (run / "checkpoint.safetensors").read_bytes()
    header, _ = split_safetensors(data)
    tensors = safetensors.numpy.load(data)
    tensors["optimizer/99/momentum_buffer"] = np.zeros(3, np.float32)
    (run / "checkpoint.safetensors").write_bytes(safetensors.numpy.save(tensors, metadata=header["__metadata__"]))
    (run / "metrics.json").unlink()
    command_fails(resume(run), capsys, "unexpected tensor 'optimizer/99/momentum_buffer'")


# ----- IDX files -----


def test_a_4_mib_gzip_claiming_65535_to_the_4_items_allocates_nothing(tmp_path):
    """The issue's reproduction: 4 GiB of zeros behind a header announcing 65535⁴ bytes."""
    header = bytes([0, 0, 0x08, 4]) + struct.pack(">4I", *(65535,) * 4)
    member = gzip.compress(bytes(1 << 20))
    path = tmp_path / "liar-idx4-ubyte.gz"
    path.write_bytes(gzip.compress(header) + member * 4096)
    assert path.stat().st_size < 5 << 20
    message = r"liar-idx4-ubyte.gz: the data its header announces \(65535x65535x65535x65535 uint8\) is [0-9,]+ bytes"
    with bounded_memory(), pytest.raises(ValueError, match=message):
        read_idx(path)


# ----- fuzzing under the memory bound -----

FUZZ = settings(max_examples=2000, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
IDX_CODES = [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]
CODES = st.sampled_from(IDX_CODES) | st.integers(0, 255)
SMALL_SIZES, ANY_SIZES = st.integers(1, 6), st.integers(0, 6) | st.integers(0, 2**32 - 1)
MAGIC = st.just(b"\0\0") | st.binary(max_size=2)
PAYLOADS = st.binary(max_size=64)
ZEROS_MEMBER = gzip.compress(bytes(1 << 20))  # 1 MiB of zeros in 1 kB; gzip members decompress back to back


@st.composite
def idx_files(draw) -> bytes:
    """Mostly well-formed IDX headers (any code, 0..5 dimensions, small or huge sizes) with payloads that fit,
    fall one byte short or over, or are random; raw or gzip, sometimes with damaged or cut bytes, sometimes
    followed by a gzip bomb (up to 1 GiB of zeros, beyond what the memory bound lets a reader allocate)."""
    code = draw(CODES)
    ndim = draw(st.integers(0, 5))
    sizes = SMALL_SIZES if draw(st.integers(0, 3)) else ANY_SIZES
    dims = [draw(sizes) for _ in range(ndim)]
    magic = draw(MAGIC)
    header = magic + bytes([code, ndim]) + struct.pack(f">{ndim}I", *dims)
    if draw(st.integers(0, 9)) == 0:
        header = header[:draw(st.integers(0, len(header)))]
    itemsize = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}.get(code, 1)
    expected = int(np.prod(dims, dtype=object)) * itemsize if dims else 0
    length = max(0, expected + draw(st.integers(-1, 1)) if expected <= 600 else draw(st.integers(0, 600)))
    payload = (draw(PAYLOADS) + bytes(601))[:length]  # random bytes, then zeros
    data = header + payload
    packing = draw(st.sampled_from(["raw", "gzip", "damaged gzip", "gzip bomb"]))
    if packing != "raw":
        data = gzip.compress(data, mtime=0)
    if packing == "damaged gzip":  # a byte flipped, or the stream cut short
        position = draw(st.integers(0, len(data) - 1))
        data = data[:position] + bytes([data[position] ^ draw(st.integers(1, 255))]) + data[position + 1:]
        data = data[:draw(st.integers(0, len(data)))]
    if packing == "gzip bomb":
        data += ZEROS_MEMBER * draw(st.integers(600, 1024))
    return data


def test_fuzz_the_idx_reader(tmp_path):
    path = tmp_path / "fuzz-idx"
    counts = {"parsed": 0, "refused": 0}

    @FUZZ
    @given(data=idx_files())
    def parse_or_refuse(data):
        path.write_bytes(data)
        try:
            array = read_idx(path, max_bytes=1 << 20)
        except ValueError as error:
            assert str(path) in str(error)
            counts["refused"] += 1
        else:
            assert array.dtype.isnative and array.nbytes <= 1 << 20
            counts["parsed"] += 1

    with bounded_memory():
        parse_or_refuse()
    assert counts["parsed"] >= 25 and counts["refused"] >= 500, counts  # (both kinds are exercised; the exact
    # numbers vary a little with how many examples Hypothesis generates before stopping)


JSON_SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(-3, 300) | st.floats(allow_nan=False)
                | st.text(max_size=8))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda children: st.lists(children, max_size=3) | st.dictionaries(
    st.text(max_size=6), children, max_size=3), max_leaves=6)


@st.composite
def damaged_runs(draw, config: dict, model: bytes, ckpt: bytes):
    """(config.json, model.safetensors or None, checkpoint.safetensors) of the good run with one or more
    damages: a config field replaced or removed, a header field or metadata field replaced, bytes flipped,
    files cut short."""
    config = dict(config)
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from(sorted(config)))
        if draw(st.booleans()):
            config[key] = draw(JSON_VALUES)
        else:
            config.pop(key)
    config_text = json.dumps(config).encode()

    def damage(data: bytes, metadata_key=None) -> bytes:
        header, body = split_safetensors(data)
        choice = draw(st.integers(0, 4))
        if choice == 1:
            name = draw(st.sampled_from(sorted(header)))
            if name == "__metadata__" and metadata_key:
                saved = json.loads(header[name][metadata_key])
                part = draw(st.sampled_from(["optimizer", "progress"]))
                if isinstance(saved[part], dict) and saved[part]:
                    saved[part][draw(st.sampled_from(sorted(saved[part])))] = draw(JSON_VALUES)
                header[name][metadata_key] = json.dumps(saved)
            elif name != "__metadata__":
                header[name][draw(st.sampled_from(["dtype", "shape", "data_offsets"]))] = draw(JSON_VALUES)
        data = join_safetensors(header, body)
        if choice == 2:
            position = draw(st.integers(0, len(data) - 1))
            data = data[:position] + bytes([data[position] ^ draw(st.integers(1, 255))]) + data[position + 1:]
        if choice == 3:
            data = data[:draw(st.integers(0, len(data)))]
        if choice == 4:
            data = struct.pack("<Q", draw(st.integers(0, 2**64 - 1))) + data[8:]
        return data

    model = None if draw(st.booleans()) else damage(model)
    return config_text, model, damage(ckpt, "softgrad")


def test_fuzz_the_run_directory_loader(good_run, tmp_path):
    """load_run (config.json, then model.safetensors or the checkpoint) and a resume's checkpoint restore: every
    damaged run directory loads or raises ValueError / FileNotFoundError, within the memory bound."""
    config = json.loads((good_run / "config.json").read_text())
    model, ckpt = (good_run / "model.safetensors").read_bytes(), (good_run / "checkpoint.safetensors").read_bytes()
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    (run / "metrics.json").unlink()
    trainer = Trainer(TrainConfig.load(good_run / "config.json"), run, progress=False, log=lambda line: None)
    trainer._setup()
    counts = {"loaded": 0, "refused": 0, "restored": 0}

    @settings(FUZZ, max_examples=1000)
    @given(files=damaged_runs(config, model, ckpt))
    def load_or_refuse(files):
        config_text, model_bytes, ckpt_bytes = files
        (run / "config.json").write_bytes(config_text)
        (run / "checkpoint.safetensors").write_bytes(ckpt_bytes)
        (run / "model.safetensors").unlink(missing_ok=True)
        if model_bytes is not None:
            (run / "model.safetensors").write_bytes(model_bytes)
        try:
            load_run(run)
            counts["loaded"] += 1
        except (ValueError, FileNotFoundError):
            counts["refused"] += 1
        try:
            trainer._restore()
            counts["restored"] += 1
        except (ValueError, FileNotFoundError):
            pass

    with bounded_memory():
        load_or_refuse()
    assert counts["loaded"] >= 20 and counts["refused"] >= 200 and counts["restored"] >= 20, counts


def test_the_good_run_loads(good_run):
    config, model = load_run(good_run)
    assert config.input_shape == (1, 8, 8) and not model.training
    reference = build_model(config, Generator(0), Generator(0))
    sg.load_checkpoint(good_run / "model.safetensors", reference, strict_load=True)
    assert zlib.crc32(reference.trainable_params()[0].numpy().tobytes()) == zlib.crc32(
        model.trainable_params()[0].numpy().tobytes())
