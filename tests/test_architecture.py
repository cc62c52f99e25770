"""Meta-tests of the design rules: imports point down, built-ins register like plugins,
every setting is documented."""

from __future__ import annotations

import ast
from importlib.metadata import entry_points
from pathlib import Path

from personae.plugins import engine_factories
from personae.settings import Settings

SRC = Path(__file__).resolve().parents[1] / "src" / "personae"
README = Path(__file__).resolve().parents[1] / "README.md"

# What the core may import from personae itself; everything else there is an adapter.
CORE_MAY_IMPORT = ("personae.types", "personae.errors", "personae.contracts", "personae.core")


def _personae_imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names.append("<relative import>")
    return [n for n in names if n.startswith("personae") or n == "<relative import>"]


def test_core_imports_no_adapter() -> None:
    offenders = []
    for path in sorted((SRC / "core").rglob("*.py")):
        for name in _personae_imports(path):
            if not name.startswith(CORE_MAY_IMPORT):
                offenders.append(f"{path.relative_to(SRC)} imports {name}")
    assert not offenders, "core/ must not import adapters:\n" + "\n".join(offenders)


def test_types_and_errors_import_nothing_above_them() -> None:
    modules = [SRC / "errors.py", SRC / "contracts.py", *sorted((SRC / "types").glob("*.py"))]
    assert len(modules) > 3, "the types package is where this test expects it"
    allowed = ("personae.types", "personae.errors", "personae.settings")
    for module in modules:
        bad = [n for n in _personae_imports(module) if not n.startswith(allowed)]
        assert not bad, f"{module.relative_to(SRC)} imports {bad}"


def test_architecture_test_would_catch_an_adapter_import(tmp_path: Path) -> None:
    # The rule above must be able to fail: an adapter import is reported.
    sample = tmp_path / "bad.py"
    sample.write_text("from personae.engines.scripted import ScriptedEngine\n")
    assert _personae_imports(sample) == ["personae.engines.scripted"]
    assert not "personae.engines.scripted".startswith(CORE_MAY_IMPORT)


def test_builtin_engines_register_through_entry_points() -> None:
    declared = {ep.name for ep in entry_points(group="personae")}
    assert {"llamacpp", "openai", "scripted"} <= declared
    assert {"llamacpp", "openai", "scripted"} <= set(engine_factories())


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = README.read_text()
    missing = [
        f"PERSONAE_{name.upper()}"
        for name in Settings.model_fields
        if f"PERSONAE_{name.upper()}" not in readme
    ]
    assert not missing, f"settings missing from README.md's settings table: {missing}"
