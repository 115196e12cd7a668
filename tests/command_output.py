"""What the `softgrad` command's failures look like: one line on stderr, never a traceback."""


def assert_one_line(err: str, *parts: str) -> None:
    """``err`` is one line, no traceback, holding every one of ``parts``."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for part in parts:
        assert part in lines[0], (part, lines[0])
