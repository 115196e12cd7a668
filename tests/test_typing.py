"""``mypy --strict`` passes on the README's Python examples and on examples/*.py, checked against softgrad's own
annotations (its modules are read, their own errors not reported: what a user's type checker sees of an
installed softgrad), and it still catches a wrong call: Tensor's operators and methods and the ops'
signatures are visible to it, not ``Any``."""

import ast
from pathlib import Path

from mypy import api as mypy

import softgrad as sg
from test_readme import BLOCKS

ROOT = Path(__file__).resolve().parents[1]

WRONG = '''import softgrad as sg
from softgrad import ops

x = sg.Tensor([1.0, 2.0])
total: sg.Tensor = (x * 2 + 1).sum(keepdims=True)
ops.sum(x, keepdim=True)
text: str = x.mean()
'''


def test_mypy_strict_passes_on_the_readme_and_the_examples_and_catches_a_wrong_call():
    cache = ROOT / ".mypy_cache"  # (git ignores it) the README's blocks are written there, at the same paths each
    work = cache / "files-under-test"  # run, so that mypy's cache stays valid: a rerun takes a second or two
    work.mkdir(parents=True, exist_ok=True)
    files = []
    for name, text in [*((f"readme_example_{i}", block) for i, block in enumerate(BLOCKS)), ("wrong_calls", WRONG)]:
        files.append(work / f"{name}.py")
        files[-1].write_text(text, encoding="utf-8")
    wrong = files.pop()
    config = work / "mypy.ini"
    config.write_text(f"[mypy]\nmypy_path = {ROOT / 'src'}\n", encoding="utf-8")
    report, errors, _ = mypy.run(["--strict", "--follow-imports=silent", "--config-file", str(config),
                                  "--cache-dir", str(cache), "--no-error-summary", *map(str, files),
                                  *map(str, sorted((ROOT / "examples").glob("*.py"))), str(wrong)])
    assert not errors, errors
    lines = [line for line in report.splitlines() if ": error:" in line]
    assert all(Path(line.split(":")[0]).resolve() == wrong for line in lines), report
    assert [line.split(":")[1] for line in lines] == ["6", "7"], report  # keepdim: a wrong keyword; str = Tensor


def test_every_operator_and_method_the_ops_attach_to_tensor_is_declared_for_type_checkers():
    """ops._tensor_methods attaches them at import; tensor.py's TYPE_CHECKING block must list each one."""
    tree = ast.parse((ROOT / "src" / "softgrad" / "tensor.py").read_text(encoding="utf-8"))
    body = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Tensor").body
    defined = {node.name for node in body if isinstance(node, ast.FunctionDef)}
    defined |= {target.id for node in body if isinstance(node, ast.Assign) for target in node.targets
                if isinstance(target, ast.Name)}
    declared = {node.name for block in body if isinstance(block, ast.If) for node in block.body
                if isinstance(node, ast.FunctionDef)}
    attached = set(vars(sg.Tensor)) - defined - {"__doc__", "__module__", "__weakref__", "_data", "_node", "_trace"}
    assert attached - declared == {"__array_ufunc__"}  # (NumPy's protocol: not for type checkers)
    assert not declared - attached, "declared but never attached"
