"""The ``softgrad`` command (also ``python -m softgrad``):

    softgrad train [--dataset digits|mnist|fashion-mnist] [--model logreg|mlp|cnn] [--epochs N] ...
    softgrad train --resume RUN_DIR [--epochs N]
    softgrad evaluate RUN_DIR [--dataset ...] [--data-dir DIR]
    softgrad predict RUN_DIR IMAGE.png|DIR [IMAGE.png|DIR ...]
    softgrad explain --list | TOPIC | all [--out DIR]
    softgrad graph [--out DIR]

Bare ``softgrad train`` trains an MLP on the digits embedded in the package (seconds, offline); a bare
``softgrad`` prints the help, ``softgrad --version`` the version.

Every failure is one line on stderr, never a traceback: exit status 1 for an error (a bad value, file or
directory, named with the fix), 2 for a malformed command line, 3 when training diverged (the loss or the
weights became NaN or infinite; the last good checkpoint is kept), 130 when stopped by Ctrl-C.

Under a launcher (``mpiexec -n 4 softgrad train ...``) every process runs the same command; rank 0 alone writes
and prints. A failure on any rank prints its line under the rank's name and ends every rank of the job with
its status (MPI_Abort), rather than leaving the others waiting for it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

EXIT_ERROR, EXIT_DIVERGED = 1, 3
EXIT_INTERRUPTED = 130  # the shell's convention for a run ended by Ctrl-C


def printable(text) -> str:
    """``text`` with control and other unprintable characters escaped (``\\x1b``), so that a file's contents
    (class names, a message quoting them) cannot move the cursor or recolour the terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


def _widths(text: str) -> tuple[int, ...]:
    """'256,128' → (256, 128); '' → ()."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 256,128, got {text!r}") from None


def _betas(text: str) -> tuple[float, ...]:
    """'0.9,0.999' → (0.9, 0.999)."""
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected two comma-separated numbers such as 0.9,0.999, got {text!r}") from None


def _for_optimizers(what: str, name: str) -> str:
    """An optimizer hyperparameter's help: what it does, and which optimizers take it with which default."""
    from softgrad.training.config import OPTIMIZER_DEFAULTS

    takers = ", ".join(f"{optimizer} {defaults[name]}" for optimizer, defaults in OPTIMIZER_DEFAULTS.items()
                       if name in defaults)
    return f"{what} (the optimizers that take it, and its default: {takers})"


def _train_parser(subparsers, defaults) -> None:
    from softgrad.training import config as cfg

    train = subparsers.add_parser(
        "train", help="train a classifier and save it, with metrics and plots, in a run directory",
        description="Train a classifier. Every option has a default: bare `softgrad train` trains an MLP on the "
                    "embedded 8x8 digits. Ctrl-C stops after the current step and saves a checkpoint; "
                    "--resume continues it exactly. A loss or weights that become NaN or infinite stop the run "
                    "(exit status 3) and keep the last good checkpoint.")
    # every training option defaults to None here, so --resume can tell which ones were given
    add = train.add_argument
    add("--dataset", choices=cfg.DATASETS, help=f"dataset (default {defaults.dataset})")
    add("--data-dir", help="directory of the MNIST / Fashion-MNIST IDX files (default ~/.cache/softgrad/<name>)")
    add("--download", action="store_true", default=None, help="download missing MNIST / Fashion-MNIST files")
    add("--model", choices=cfg.MODELS, help=f"model (default {defaults.model})")
    add("--hidden", type=_widths, metavar="W,W", help="hidden Dense widths of the MLP and of the CNN's head "
                                       f"(default {','.join(map(str, defaults.hidden))})")
    add("--channels", type=_widths, metavar="C,C", help="convolution widths of the CNN, one 3x3 conv + 2x2 max-pool each "
                                         f"(default {','.join(map(str, defaults.channels))})")
    add("--dropout", type=float, help=f"dropout probability after each hidden layer (default {defaults.dropout})")
    add("--epochs", type=int, help=f"passes over the training set (default {defaults.epochs})")
    add("--batch-size", type=int, help=f"mini-batch size (default {defaults.batch_size})")
    add("--optimizer", choices=cfg.OPTIMIZERS, help=f"optimizer (default {defaults.optimizer})")
    add("--lr", type=float, help="learning rate (default " + ", ".join(f"{k} {v}" for k, v in cfg.DEFAULT_LR.items())
        + ")")
    add("--weight-decay", type=float, help=f"weight decay (default {defaults.weight_decay})")
    add("--momentum", type=float, help=_for_optimizers("momentum", "momentum"))
    add("--nesterov", action="store_true", default=None, help=_for_optimizers("Nesterov momentum", "nesterov"))
    add("--betas", type=_betas, metavar="B1,B2",
        help=_for_optimizers("averaging of the gradient and of its square", "betas"))
    add("--eps", type=float, help=_for_optimizers("added to the denominator", "eps"))
    add("--alpha", type=float, help=_for_optimizers("smoothing of the squared gradient", "alpha"))
    add("--centered", action="store_true", default=None,
        help=_for_optimizers("divide by the gradient's variance", "centered"))
    add("--rho", type=float, help=_for_optimizers("averaging of the squares", "rho"))
    add("--lr-decay", type=float, help=_for_optimizers("learning-rate decay", "lr_decay"))
    add("--lr-schedule", choices=cfg.SCHEDULES,
        help=f"learning-rate schedule, per step (default {defaults.lr_schedule})")
    add("--warmup-epochs", type=float, help=f"linear learning-rate warm-up (default {defaults.warmup_epochs})")
    add("--loss", choices=cfg.LOSSES, help=f"training loss (default {defaults.loss})")
    add("--seed", type=int, help=f"seed of the weights, data order and dropout (default {defaults.seed})")
    add("--out", help="run directory (default runs/<dataset>-<model>-<time>)")
    add("--resume", metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its checkpoint (only --epochs, --data-dir, --download may be given). "
             "A larger --epochs extends a run, finished or not; the cosine and step schedules are then recomputed "
             "for the new length, so the learning rate jumps to that schedule's value at the current step (a cosine "
             "that had decayed towards 0 rises again)")
    add("--threads", type=int, help=f"threads of softgrad's kernels and of BLAS (default {defaults.threads}: robust on "
                                    "a shared machine; more can be faster on an idle one)")
    add("--no-progress", action="store_true", help="no progress bar (it is shown on terminals only anyway)")


def _explain_parser(subparsers) -> None:
    explain = subparsers.add_parser(
        "explain", help="run one claim of the notes: print its numbers, save its figures",
        description="Each topic computes the numbers that prove a claim of the notes (softmax's stability and "
                    "Jacobian, cross-entropy's gradient, MSE against cross-entropy, multi-label outputs, entropy "
                    "and KL, maximum likelihood, activations), prints them and saves its figures as PNG.")
    explain.add_argument("topic", nargs="?", help="a topic (see --list), or 'all'")
    explain.add_argument("--list", action="store_true", help="list the topics and their claims")
    explain.add_argument("--out", default="explain", help="directory for the figures (default ./explain)")


def _graph_parser(subparsers) -> None:
    graph = subparsers.add_parser(
        "graph", help="draw the tutorial's and the notes' computation graphs",
        description="Write the computation graphs of MindSpore's tutorial (matmul → add → BCE-with-logits) and of "
                    "the notes (s → p → o ← t) as Graphviz DOT files, and as PNG when Graphviz's `dot` is installed.")
    graph.add_argument("--out", default="graphs", help="directory for the files (default ./graphs)")


def build_parser() -> argparse.ArgumentParser:
    from softgrad.training import TrainConfig
    from softgrad.training.config import DATASETS

    import softgrad

    parser = argparse.ArgumentParser(prog="softgrad", description="Train, evaluate and use handwritten-digit "
                                                                    "classifiers built on softgrad.")
    parser.add_argument("--version", action="version", version=f"softgrad {softgrad.__version__}")
    subparsers = parser.add_subparsers(dest="command")  # none: the help
    _train_parser(subparsers, TrainConfig())
    evaluate = subparsers.add_parser("evaluate", help="test accuracy and confusion matrix of a trained run")
    evaluate.add_argument("run_dir", help="a run directory written by `softgrad train`")
    evaluate.add_argument("--dataset", choices=DATASETS, help="evaluate on this dataset's test split instead of the run's")
    evaluate.add_argument("--data-dir", help="directory of the dataset's files")
    predict = subparsers.add_parser("predict", help="class probabilities of images (PNG, JPEG, ...)")
    predict.add_argument("run_dir", help="a run directory written by `softgrad train`")
    predict.add_argument("images", nargs="+", help="image files or directories of them, any size, dark-on-light, "
                         "light-on-dark or on a transparent background")
    _explain_parser(subparsers)
    _graph_parser(subparsers)
    return parser


# ----- train -----

def _train(args) -> int:
    from softgrad import communication
    from softgrad.training import TrainConfig, Trainer

    options = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in TrainConfig.DERIVED]
    given = {name: getattr(args, name) for name in options if getattr(args, name) is not None}
    if "data_dir" in given:  # stored resolved, so that `evaluate` works from any directory
        given["data_dir"] = str(Path(given["data_dir"]).expanduser().resolve())
    if args.resume:
        changed = sorted(set(given) - {"epochs", "data_dir", "download"}) + (["out"] if args.out else [])
        if changed:
            options = ", ".join("--" + name.replace("_", "-") for name in changed)
            raise ValueError(f"--resume continues a run with its own settings; drop {options} "
                             "(only --epochs, --data-dir and --download may be given)")
        run_dir = Path(args.resume)
        if not (run_dir / "config.json").exists():
            raise FileNotFoundError(f"{run_dir} is not a run directory (no config.json)")
        config = dataclasses.replace(TrainConfig.load(run_dir / "config.json"), **given)
    else:
        config = TrainConfig(**given)
        stamp = communication.broadcast_object(time.strftime("%Y%m%d-%H%M%S"))  # one directory for all ranks
        run_dir = Path(args.out) if args.out else Path("runs") / f"{config.dataset}-{config.model}-{stamp}"
    trainer = Trainer(config, run_dir, progress=False if args.no_progress else None)
    metrics = trainer.run(resume=bool(args.resume))
    return 0 if metrics is not None else EXIT_INTERRUPTED


# ----- evaluate and predict -----


def _evaluate(args) -> int:
    from softgrad.training import confusion_matrix, evaluate, make_loss
    from softgrad.training.sources import load_dataset
    from softgrad.training.runs import load_run
    from softgrad.training.threads import blas_threads

    config, model = load_run(args.run_dir)
    dataset = args.dataset or config.dataset
    data_dir = args.data_dir if args.data_dir is not None else (config.data_dir if dataset == config.dataset else None)
    _, _, x_test, y_test, classes = load_dataset(dataset, data_dir, train=False)
    if x_test.shape[1:] != tuple(config.input_shape):
        raise ValueError(f"{dataset} images have shape {x_test.shape[1:]}, but the model was trained on "
                         f"{tuple(config.input_shape)} ({config.dataset})")
    with blas_threads(config.threads):
        result = evaluate(model, make_loss(config.loss, config.num_classes), x_test, y_test)
    matrix = confusion_matrix(y_test, result["predictions"], config.num_classes)
    print(f"{config.model} from {printable(args.run_dir)} on the {dataset} test set ({len(y_test)} images)")
    print(f"test accuracy {100 * result['accuracy']:.2f}%  test loss {result['loss']:.4f}")
    print("confusion matrix (rows: true class, columns: predicted; then the class's recall):")
    width = max(len(str(matrix.max())), 3)
    print(" " * 4 + " ".join(f"{i:>{width}}" for i in range(len(matrix))))
    for i, row in enumerate(matrix):
        recall = row[i] / max(row.sum(), 1)
        name = "" if classes[i] == str(i) else f"  {printable(classes[i])}"
        print(f"{i:>3} " + " ".join(f"{n:>{width}}" for n in row) + f"   {100 * recall:5.1f}%{name}")
    return 0


def _predict(args) -> int:
    import warnings

    from softgrad import ops
    from softgrad.training.images import BlankImageWarning, image_paths, load_image
    from softgrad.training.runs import load_run
    from softgrad.training.threads import blas_threads

    config, model = load_run(args.run_dir)
    paths = image_paths(args.images)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BlankImageWarning)
        images = np.stack([load_image(path, tuple(config.input_shape)) for path in paths])
    for warning in caught:  # one line each, on stderr (the predictions stay on stdout)
        print(f"softgrad predict: warning: {printable(warning.message)}", file=sys.stderr)
    with blas_threads(config.threads):
        probabilities = ops.softmax(model(images), axis=-1).numpy()
    names = [printable(name) for name in config.class_names]  # from config.json: maybe hostile
    for path, p in zip(paths, probabilities):
        best = int(np.argmax(p))
        print(f"{printable(path)}: {names[best]} ({100 * p[best]:.1f}%)")
        print("  " + "  ".join(f"{name}: {100 * q:.1f}%" for name, q in zip(names, p)))
    return 0


# ----- explain -----

def _explain(args) -> int:
    from softgrad import explain

    if args.list or not args.topic:
        for name, (_, claim) in explain.TOPICS.items():
            print(f"{name:24s} {claim}")
        return 0
    names = explain.topics() if args.topic == "all" else [args.topic]
    for name in names:
        explain.run(name, out=args.out, echo=print)
    return 0


def _graph(args) -> int:
    import shutil

    from softgrad._files import atomic_write_text
    from softgrad.autodiff.graph import notes_graph, tutorial_graph

    out = Path(args.out)
    for name, drawn in (("tutorial", tutorial_graph()), ("notes", notes_graph())):
        atomic_write_text(out / f"{name}.dot", drawn.to_dot())
        print(f"{name}: {out / f'{name}.dot'}")
        if shutil.which("dot"):
            print(f"{name}: {drawn.render(out / f'{name}.png')}")
    if not shutil.which("dot"):
        print("(Graphviz's `dot` is not installed: DOT files only; apt-get install graphviz draws them)")
    return 0


def _fail(command: str, text: str, code: int) -> int:
    """Print the failure's line on stderr and return its exit status. Under a launcher of several processes:
    under this rank's name, and every rank of the job ends with ``code`` (the others may be waiting for this one
    in an allreduce)."""
    from softgrad import communication

    line = f"softgrad {command}: {printable(text)}"
    if communication.launcher_size() > 1:
        communication.abort(line, code)
    print(line, file=sys.stderr)
    return code


COMMANDS = {"train": _train, "evaluate": _evaluate, "predict": _predict, "explain": _explain, "graph": _graph}


def main(argv: list[str] | None = None) -> int:
    from softgrad.training.loop import TrainingDiverged

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # a bare `softgrad`
        parser.print_help()
        return 0
    try:
        return COMMANDS[args.command](args)
    except TrainingDiverged as error:
        return _fail(args.command, str(error), EXIT_DIVERGED)
    except BrokenPipeError:  # the output was piped into a reader that stopped early (`| head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except (ValueError, OSError, ImportError) as error:  # OSError: missing, unreadable or unwritable files, network
        return _fail(args.command, f"error: {error}", EXIT_ERROR)
    except KeyboardInterrupt:
        return _fail(args.command, "interrupted", EXIT_INTERRUPTED)


__all__ = ["main", "build_parser"]

if __name__ == "__main__":
    sys.exit(main())
