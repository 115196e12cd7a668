"""Every script of the documentation gallery (docs/gallery/plot_*.py) runs headless and its claims hold: each
script asserts its own numbers, so running it is the test. Then each figure it drew says what it shows: a
title, labelled axes (unless switched off, as for a picture; shared axes may be labelled once), and a legend wherever two or more
labelled things are drawn."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

GALLERY = Path(__file__).resolve().parents[1] / "docs" / "gallery"
SCRIPTS = sorted(GALLERY.glob("plot_*.py"))

# Runs the script as __main__ under the Agg backend, then checks every figure it left open.
RUN_AND_CHECK = r"""
import runpy, sys
import matplotlib.pyplot as plt
runpy.run_path(sys.argv[1], run_name="__main__")
assert plt.get_fignums(), "the script drew no figure"
for number in plt.get_fignums():
    figure = plt.figure(number)
    suptitle = figure._suptitle.get_text() if figure._suptitle else ""
    for ax in figure.axes:
        if ax.get_label() == "<colorbar>" or not ax.axison:
            continue
        where = f"figure {number}, axes {ax.get_title()!r}"
        assert ax.get_title() or suptitle, f"{where}: no title"
        # an axis shared with a labelled one (sharex / sharey) may leave its label to that one
        for axis, shared in (("x", ax.get_shared_x_axes()), ("y", ax.get_shared_y_axes())):
            names = [getattr(a, f"get_{axis}label")() for a in shared.get_siblings(ax)]
            assert any(names), f"{where}: the {axis} axis has no label"
        labelled = [h for h in ax.get_legend_handles_labels()[1] if not h.startswith("_")]
        if len(labelled) >= 2:
            assert ax.get_legend() or figure.legends, f"{where}: {labelled} but no legend"
print("figures checked:", len(plt.get_fignums()))
"""


def test_gallery_has_one_example_per_topic():
    assert len(SCRIPTS) == 8, [s.name for s in SCRIPTS]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.stem)
def test_gallery_script_runs_and_its_claims_hold(script):
    result = subprocess.run([sys.executable, "-c", RUN_AND_CHECK, str(script)], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "MPLBACKEND": "Agg"}, cwd=GALLERY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "figures checked:" in result.stdout
