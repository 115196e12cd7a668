"""What a topic produces (printed lines, asserted numbers, figures), and the one way its figures are drawn and
saved: matplotlib's object API (no pyplot, no global backend change), written atomically as PNG."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

from softgrad._files import atomic_write_bytes


class Result:
    """The outcome of one topic: ``lines`` printed, ``numbers`` (name → value) that tests assert, ``figures``
    written."""

    def __init__(self, topic: str, out: Path | None, echo: Callable[[str], None] | None):
        self.topic, self.out, self.echo = topic, out, echo
        self.lines: list[str] = []
        self.numbers: dict[str, float] = {}
        self.figures: list[Path] = []

    def say(self, line: str = "") -> None:
        self.lines.append(line)
        if self.echo is not None:
            self.echo(line)

    def number(self, name: str, value, shown: str | None = None) -> float:
        """Record ``value`` under ``name`` and print ``name = value`` (or ``shown``)."""
        self.numbers[name] = value
        self.say(f"  {name} = {value:.6g}" if shown is None and isinstance(value, float) else
                 f"  {name} = {value if shown is None else shown}")
        return value

    def figure(self, width: float, height: float):
        """A new matplotlib Figure, or None when this run saves no figures."""
        if self.out is None:
            return None
        try:
            from matplotlib.figure import Figure
        except ImportError as error:
            raise ImportError("softgrad explain draws with matplotlib: pip install 'softgrad[cli]'") from error
        return Figure(figsize=(width, height), dpi=100, layout="constrained")

    def save(self, figure, name: str) -> None:
        """Write ``figure`` as ``<out>/<topic>-<name>.png``."""
        if figure is None:
            return
        path = self.out / f"{self.topic}-{name}.png"
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        atomic_write_bytes(path, buffer.getvalue())
        self.figures.append(path)
        self.say(f"  figure: {path}")
