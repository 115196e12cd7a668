"""Regenerate the PyTorch reference values in tests/golden/ (``make golden``).

Each module in scripts/golden/ has ``generate(out_dir: Path) -> list[Path]``; this runs them all with
``torch==2.13.0`` (a dev-only dependency: CI reads the stored files and never imports torch).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIRED_TORCH = "2.13.0"


def main() -> None:
    import torch

    if not torch.__version__.startswith(REQUIRED_TORCH):
        sys.exit(f"make_golden: torch=={REQUIRED_TORCH} is required, found {torch.__version__}")
    torch.set_num_threads(1)
    sys.path.insert(0, str(ROOT / "scripts"))
    out_dir = ROOT / "tests" / "golden"
    out_dir.mkdir(parents=True, exist_ok=True)
    for module in pkgutil.iter_modules([str(ROOT / "scripts" / "golden")]):
        written = importlib.import_module(f"golden.{module.name}").generate(out_dir)
        for path in written:
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
