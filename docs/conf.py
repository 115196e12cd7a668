"""Sphinx configuration of softgrad's documentation site: `make docs` builds it into docs/_build/html."""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))

import api_pages  # noqa: E402  (beside this file)

import softgrad  # noqa: E402

project = "softgrad"
author = "the softgrad developers"
copyright = "the softgrad developers, MIT licence"  # noqa: A001  (Sphinx's name)
release = version = softgrad.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "gallery", "auto_examples/*.ipynb", "auto_examples/*.py", "Thumbs.db"]
templates_path = ["_templates"]

# The API reference: pages written from the packages (api_pages), an entry per public name.
api_pages.write(DOCS)
autosummary_generate = True
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # the signatures say it; the docstrings state the math
maximum_signature_line_length = 100  # longer signatures: one parameter a line
napoleon_google_docstring = False
napoleon_numpy_docstring = True


def literal_bars(app, what, name, obj, options, lines):
    """|x| in a docstring is an absolute value, not a reST substitution: escape the bars (not in examples)."""
    for i, line in enumerate(lines):
        if "|" in line and not line.lstrip().startswith((">>>", "...")):
            lines[i] = line.replace("|", "\\|")


def setup(app):
    app.connect("autodoc-process-docstring", literal_bars)


# Markdown pages (ARCHITECTURE.md, MINDSPORE.md, the README sections included).
myst_heading_anchors = 3

# The gallery: every docs/gallery/plot_*.py is executed at each build; an error stops the build.
sphinx_gallery_conf = {
    "examples_dirs": "gallery",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "promote_jupyter_magic": False,
    "min_reported_time": 0,
}

html_theme = "furo"
html_title = f"softgrad {release}"
html_static_path = ["_static"]
html_css_files = ["softgrad.css"]
html_theme_options = {"navigation_with_keys": True}
