"""The README's Python examples run as written, and the 20-line example gives the closed-form gradients."""

import re
from pathlib import Path

import numpy as np
import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, capsys):
    namespace: dict = {}
    exec(compile(BLOCKS[index], f"README.md example {index}", "exec"), namespace)
    if "grad_fn" in namespace:  # the 20-line example: db = (σ(z) − y)/3, dw = outer(x, db)
        model, x, y = namespace["model"], namespace["x"], namespace["y"]
        z = x.numpy() @ model.w.numpy() + model.b.numpy()
        db = (1 / (1 + np.exp(-z)) - y.numpy()) / 3
        np.testing.assert_allclose(namespace["db"].numpy(), db, rtol=1e-5)
        np.testing.assert_allclose(namespace["dw"].numpy(), np.outer(x.numpy(), db), rtol=1e-5)
    printed = re.search(r"test accuracy ([0-9.]+)", capsys.readouterr().out)
    if printed:  # the training loop by hand
        assert float(printed.group(1)) > 0.95


ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(str(page.relative_to(ROOT))
               for page in [ROOT / "README.md", *ROOT.glob("bench/*.md"), *ROOT.glob("docs/*.md")])


@pytest.mark.parametrize("page", PAGES)
def test_every_relative_link_of_a_page_reaches_a_file_in_the_repository(page):
    """[text](path) links that are not web addresses or anchors point at files that exist (results a page quotes
    must be committed beside it)."""
    path = ROOT / page
    targets = re.findall(r"\]\(([^)\s]+)\)", path.read_text(encoding="utf-8"))
    local = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:|#", t)]
    missing = [t for t in local if t and not (path.parent / t).exists()]
    assert not missing, f"{page} links to files that do not exist: {missing}"
