"""The layers of docs/architecture.md, checked from every import in the code (function-level too)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth of the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


#: (folder or file, modules it must never import): lower layers never reach up.
APPLICATION = ("abm.jobs", "abm.cli", "abm.dashboard", "analysis")
RULES = [
    ("abm/theory", ("mesa", "abm.simulation", "abm.regimes", "abm.scenario", "abm.storage", *APPLICATION)),
    ("abm/regimes", ("mesa", "abm.simulation", "abm.scenario", *APPLICATION)),
    ("abm/simulation", APPLICATION),
    ("abm/scenario.py", ("abm.simulation", *APPLICATION)),
    ("abm/storage.py", ("abm.simulation", "abm.theory", *APPLICATION)),
    ("analysis", ("abm.jobs", "abm.cli", "abm.dashboard")),
    ("abm/dashboard", ("abm.jobs", "abm.cli")),
]


@pytest.mark.parametrize("place, forbidden", RULES, ids=[rule[0] for rule in RULES])
def test_no_layer_imports_a_layer_above_it(place, forbidden):
    paths = [ROOT / place] if place.endswith(".py") else files(place)
    assert paths
    offending = [(path.relative_to(ROOT).as_posix(), module) for path in paths for module in imported_modules(path)
                 if any(module == f or module.startswith(f + ".") for f in forbidden)]
    assert not offending


def test_no_module_is_named_after_a_standard_library_module():
    import sys

    clashes = [path for path in files("abm") + files("analysis") if path.stem in sys.stdlib_module_names]
    assert not clashes


def test_every_job_module_is_registered_and_has_the_job_interface():
    from abm.cli import COMMANDS

    registered = {job.__name__.rsplit(".", 1)[-1] for job in COMMANDS}
    on_disk = {path.stem for path in (ROOT / "abm" / "jobs").glob("*.py") if path.stem != "__init__"}
    assert registered == on_disk
    for job in COMMANDS:
        assert all(hasattr(job, name) for name in ("NAME", "HELP", "add_arguments", "run"))
