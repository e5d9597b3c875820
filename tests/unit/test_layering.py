"""The planes share rules only through the contract package (oggy.contract): the control
plane never imports the data plane, and the contract imports neither plane."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("controlplane", ("dataplane",)),
        ("clients/python/oggy", ("dataplane", "controlplane")),
    ],
)
def test_package_imports_no_forbidden_plane(package: str, forbidden: tuple[str, ...]) -> None:
    offenders = sorted(
        f"{path.relative_to(ROOT)}: {module}"
        for path in (ROOT / package).rglob("*.py")
        for module in _imported_modules(path)
        if module.split(".")[0] in forbidden
    )
    assert offenders == []
