"""Writes the API reference's pages (docs/api/*.rst) from the packages themselves, so that a new public name
appears without anyone editing a list: one page per package, a section per module where the names are
defined, and an autosummary table whose entries get a page each (docs/api/generated/). Run by conf.py at
every build; the pages are build products (ignored by git)."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

# (page, the package documented, title, the names to list: None = every public name defined in the package)
PAGES = [
    ("softgrad", "softgrad", "softgrad: tensors, parameters, configuration",
     ["Tensor", "Parameter", "tensor", "config", "debug_nans", "debug_infs", "random.Generator"]),
    ("autodiff", "softgrad", "Autodiff transforms",
     ["grad", "value_and_grad", "vjp", "jvp", "linearize", "jacobian", "jacrev", "jacfwd", "hessian", "vmap",
      "stop_gradient", "check_grad", "custom_vjp", "GradOperation", "get_grad", "jit", "set_context"]),
    ("ops", "softgrad.ops", "softgrad.ops: operations and losses", None),
    ("nn", "softgrad.nn", "softgrad.nn: cells, layers and loss cells", None),
    ("optim", "softgrad.optim", "softgrad.optim: optimizers and schedules", None),
    ("data", "softgrad.data", "softgrad.data: datasets and loading", None),
    ("info", "softgrad.info", "softgrad.info: entropy, cross-entropy and KL divergence", None),
]

INTRO = {
    "autodiff": ("The transforms and the contract of what each returns: :doc:`../contract` has the table. "
                 "Each is also a name of the top-level ``softgrad`` package (``softgrad.grad``, …)."),
    "softgrad": ("Dtypes: ``softgrad.float16``, ``float32``, ``float64``, ``int32``, ``int64``, ``bool_`` "
                 "(NumPy's). All randomness comes from an explicit, seeded ``softgrad.random.Generator``."),
}


def public_names(package) -> list[str]:
    """The public names of a package: its ``__all__``, else every public function or class it defines."""
    names = getattr(package, "__all__", None)
    if names is None:
        names = [n for n, v in vars(package).items() if not n.startswith("_")
                 and (inspect.isfunction(v) or inspect.isclass(v))
                 and getattr(v, "__module__", "").startswith(package.__name__)]
    return [n for n in names if not inspect.ismodule(getattr(package, n))]


def by_module(package, names) -> dict[str, list[str]]:
    """The names grouped by the module that defines each (a package's own names first)."""
    groups: dict[str, list[str]] = {}
    for name in names:
        module = getattr(resolve(package, name), "__module__", package.__name__)
        groups.setdefault(module if module.startswith(package.__name__) else package.__name__, []).append(name)
    return dict(sorted(groups.items(), key=lambda item: (item[0] != package.__name__, item[0])))


def first_paragraph(module_name: str) -> str:
    doc = inspect.getdoc(importlib.import_module(module_name)) or ""
    return doc.split("\n\n")[0].replace("\n", " ")


def resolve(package, name: str):
    obj = package
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def page(slug: str, package_name: str, title: str, names, documented: dict) -> str:
    """The page's text; ``documented`` maps each object already given an entry to its name there, so that an
    alias (``nn.Linear`` of ``nn.Dense``, ``nn.Parameter`` of ``softgrad.Parameter``) gets a line, not a page."""
    package = importlib.import_module(package_name)
    names = public_names(package) if names is None else names
    aliases = [(n, documented[id(resolve(package, n))]) for n in names if id(resolve(package, n)) in documented]
    names = [n for n in names if id(resolve(package, n)) not in documented]
    for name in names:
        documented[id(resolve(package, name))] = f"{package_name}.{name}"
    lines = [title, "=" * len(title), ""]
    if slug in INTRO:
        lines += [INTRO[slug], ""]
    if slug not in ("softgrad", "autodiff"):
        lines += [f".. automodule:: {package_name}", "   :no-members:", ""]
    if aliases:
        lines += ["Also here under another name: " + ", ".join(
            f"``{package_name}.{alias}`` is :obj:`{original}`" for alias, original in aliases) + ".", ""]
    groups = by_module(package, names)
    for module, members in groups.items():
        if len(groups) > 1:
            heading = f"``{module}``"
            lines += [heading, "-" * len(heading), "", first_paragraph(module), ""]
        lines += [f".. currentmodule:: {package_name}", "", ".. autosummary::", "   :toctree: generated",
                  "   :nosignatures:", ""] + [f"   {name}" for name in members] + [""]
    return "\n".join(lines)


def write(docs: Path) -> None:
    """Writes docs/api/index.rst and one page per entry of PAGES (only files whose text changed)."""
    folder = docs / "api"
    folder.mkdir(exist_ok=True)
    index = ["API reference", "=============", "",
             "Generated from the docstrings, which state the mathematics of each function and its derivative.", "",
             ".. toctree::", "   :maxdepth: 1", ""] + [f"   {slug}" for slug, *_ in PAGES]
    texts = {"index": "\n".join(index) + "\n"}
    documented: dict = {}
    texts.update({slug: page(slug, package, title, names, documented) for slug, package, title, names in PAGES})
    for slug, text in texts.items():
        path = folder / f"{slug}.rst"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
