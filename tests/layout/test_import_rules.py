"""The layers of README "Contents", checked on every import statement (module level or inside a function).

    blender_addon/shared   neither bpy nor torch; imports nothing else of the project; settings.py imports nothing
    blender_addon/blender  the only place that imports bpy; builds on shared
    diffusion_core         torch + numpy; may import blender_addon.shared only; subpackages in layers (CORE_LAYERS)
    server                 core + shared; never bpy, never the Blender layer
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("blender_addon", "diffusion_core", "server")
CORE_LAYERS = {  # core subpackage -> the core subpackages it may import (besides itself)
    "data": set(),
    "models": {"data"},
    "diffusion": set(),
    "joining": set(),
    "pipeline": {"models", "diffusion"},
    "evaluation": {"data", "models", "diffusion", "pipeline", "joining"},
    "training": {"data", "models", "diffusion", "pipeline", "evaluation", "joining"},
    "cli": set(),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module `path` imports (relative imports resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return found


SOURCES = sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))


def _top(name: str) -> str:
    return name.split(".")[0]


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_imports_follow_the_layers(path: Path):
    module, imports = _module_name(path), _imports(path)
    project = {i for i in imports if _top(i) in PACKAGES}
    tops = {_top(i) for i in imports}
    if not _under(module, "blender_addon.blender"):
        assert "bpy" not in tops, f"{module} imports bpy outside blender_addon/blender"
    if _under(module, "blender_addon"):
        assert "torch" not in tops, f"{module}: the add-on never imports torch"
    if _under(module, "blender_addon.shared"):
        assert all(_under(i, "blender_addon.shared") for i in project), f"{module}: shared imports {project}"
    if module == "blender_addon.shared.settings":
        assert not project, "settings is the bottom of the graph"
    if _under(module, "server"):
        assert not any(_under(i, "blender_addon.blender") for i in project), f"{module} imports the Blender layer"
    if _under(module, "diffusion_core"):
        outside = {i for i in project if not _under(i, "diffusion_core")}
        assert all(_under(i, "blender_addon.shared") for i in outside), f"{module} imports {outside}"
        layer = module.split(".")[1] if "." in module else None
        if layer in CORE_LAYERS:
            used = {i.split(".")[1] for i in project if _under(i, "diffusion_core") and i.count(".")}
            assert used - {layer} <= CORE_LAYERS[layer], f"{module} imports core layers {used - {layer}}"


def test_the_rules_see_every_kind_of_import():
    """The checker resolves relative and function-level imports (it would miss violations otherwise)."""
    imports = _imports(REPO / "blender_addon" / "__init__.py")
    assert "blender_addon.blender.registration" in imports  # `from .blender import registration` in a function
    assert "bpy" in _imports(REPO / "blender_addon" / "blender" / "registration.py")
    assert "diffusion_core.models.checkpoint" in _imports(REPO / "diffusion_core" / "models" / "latent.py")
