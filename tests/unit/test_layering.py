"""The packages import each other in one direction only, so none of them can form an import cycle:
common <- ingest <- analysis <- synthetic, graph <- cli (an arrow: "is imported by")."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# package folder -> the chainrisk packages its modules may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "common": set(),
    "ingest": {"common"},
    "analysis": {"common", "ingest"},
    "synthetic": {"common", "ingest", "analysis"},
    "graph": {"common", "ingest", "analysis"},
    "cli": {"common", "ingest", "analysis", "synthetic", "graph"},
}


def chainrisk_imports(path: Path) -> set[str]:
    """The chainrisk packages a module imports (``chainrisk.<package>...``), at any depth of the module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "chainrisk" else [f"chainrisk.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name.split(".")[1] for name in names if name.startswith("chainrisk.") and name.count(".") >= 1)
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_lower_layers(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules, f"no modules under {package}/"
    wrong = {f"{m.relative_to(ROOT)}: chainrisk.{p}" for m in modules for p in chainrisk_imports(m) - ALLOWED[package] - {package}}
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_the_check_sees_an_import_against_the_layering(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from chainrisk import synthetic\n    import chainrisk.analysis.blocks\n")
    assert chainrisk_imports(module) == {"synthetic", "analysis"}
