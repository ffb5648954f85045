"""The package follows the data path: each layer imports only the layers below it, and the
whole package passes the type checker."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "harness"
SHARED = {"errors", "locations"}
# layer -> the layers it may import (besides itself and SHARED)
ALLOWED = {
    "config": set(),
    "model": {"config"},
    "measure": {"config", "model"},
    "analysis": {"config", "model"},
    "render": {"config", "model", "analysis"},
    "commands": {"config", "model", "measure", "analysis", "render"},
}


def imported_layers(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "harness" and len(parts) > 1:
                yield parts[1], node.lineno


def test_every_module_lives_in_a_layer():
    loose = {p.stem for p in PACKAGE.glob("*.py")} - SHARED - {"__init__", "__main__"}
    assert not loose, f"modules outside the layers: {sorted(loose)}"


def test_layers_import_only_downwards():
    wrong = []
    for layer, allowed in ALLOWED.items():
        for path in sorted((PACKAGE / layer).glob("*.py")):
            for target, line in imported_layers(path):
                if target not in {layer, *allowed, *SHARED}:
                    wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_type_checker_passes():
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=PACKAGE.parent,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-1000:]
