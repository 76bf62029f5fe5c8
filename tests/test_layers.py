"""Dependencies between Mesiji's packages point one way: adapters depend on the domain.

Each module under ``src/mesiji/<package>`` is parsed with :mod:`ast` (nothing is imported), so
an import hidden under ``if TYPE_CHECKING:`` or inside a function counts as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mesiji

SRC = Path(mesiji.__file__).parent

#: package -> the packages it must not import.
FORBIDDEN: dict[str, frozenset[str]] = {
    "domain": frozenset({"smpp", "storage", "services", "web", "cli", "simulator"}),
    "text": frozenset({"smpp"}),
    "smpp": frozenset({"storage", "services", "web", "cli"}),
    "storage": frozenset({"web", "cli", "services"}),
}


def _mesiji_imports(path: Path) -> set[str]:
    """The ``mesiji.<package>`` names a module imports, as dotted names."""
    package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            # `from mesiji import smpp` names the package in the alias.
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] == "mesiji"}


def _violations(package: str) -> list[str]:
    forbidden = FORBIDDEN[package]
    found = []
    for path in sorted((SRC / package).rglob("*.py")):
        for name in sorted(_mesiji_imports(path)):
            parts = name.split(".")
            if len(parts) > 1 and parts[1] in forbidden:
                found.append(f"{path.relative_to(SRC)} imports {name}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_one_way(package: str) -> None:
    assert (SRC / package).is_dir()
    assert _violations(package) == []


def test_the_check_sees_imports() -> None:
    module = SRC / "text" / "alphabets.py"
    assert "mesiji.text.gsm7" in _mesiji_imports(module)
