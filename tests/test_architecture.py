"""docs/architecture.md's layer table is the rule: every sloctl package imports only what its row
lists, and every package of the tree has a row."""

from __future__ import annotations

import ast
import re
import subprocess
from collections import defaultdict
from pathlib import Path

from tests.paths import ROOT

TABLE = ROOT / "docs" / "architecture.md"


def allowed_imports() -> dict[str, set[str] | None]:
    """package -> the sloctl packages it may import (None: any)."""
    rows: dict[str, set[str] | None] = {}
    for line in TABLE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and (m := re.fullmatch(r"`([a-z_][a-z0-9_]*)`", cells[0])):
            rows[m.group(1)] = (
                None if cells[2] == "any" else set(re.findall(r"`([a-z_][a-z0-9_]*)`", cells[2]))
            )
    return rows


def _unit(path: Path) -> str:
    if path.is_relative_to(ROOT / "testbed"):
        return "testbed"
    return path.relative_to(ROOT / "sloctl").with_suffix("").parts[0]


def imports_of(text: str) -> dict[str, int]:
    """sloctl packages imported anywhere in ``text`` (inside functions too) -> first line."""
    out: dict[str, int] = {}
    for node in ast.walk(ast.parse(text)):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"sloctl.{a.name}" for a in node.names] if node.module == "sloctl" else [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "sloctl" and len(parts) > 1:
                out.setdefault(parts[1], node.lineno)
    return out


def actual_imports(files: list[Path]) -> dict[str, dict[str, str]]:
    """package -> {imported sloctl package: first place that imports it}."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for path in files:
        unit = _unit(path)
        out.setdefault(unit, {})
        for target, line in imports_of(path.read_text(encoding="utf-8")).items():
            if target != unit:
                out[unit].setdefault(target, f"{path.relative_to(ROOT)}:{line}")
    return out


def _sources() -> list[Path]:
    return sorted([*(ROOT / "sloctl").rglob("*.py"), *(ROOT / "testbed").rglob("*.py")])


def test_every_package_imports_only_what_docs_architecture_allows() -> None:
    allowed = allowed_imports()
    wrong = [
        f"{where}: {unit} imports {target}"
        for unit, targets in actual_imports(_sources()).items()
        if allowed.get(unit, set()) is not None
        for target, where in targets.items()
        if target not in (allowed.get(unit) or set())
    ]
    assert not wrong, "update the code or docs/architecture.md:\n" + "\n".join(wrong)


def test_every_package_of_the_tree_has_a_row_and_every_row_a_package() -> None:
    tree = {_unit(p) for p in _sources()}
    assert tree == set(allowed_imports())


def test_nothing_but_the_command_line_imports_it() -> None:
    for unit, targets in actual_imports(_sources()).items():
        assert unit == "cli" or "cli" not in targets, targets.get("cli")


def test_the_checker_sees_an_import_inside_a_function_that_the_table_forbids() -> None:
    found = imports_of("def f() -> None:\n    from sloctl.collector import config\n")
    assert found == {"collector": 2}
    assert "collector" not in (allowed_imports()["render"] or set())


def _where_things_are() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Where things are", 1)[1].split("\n## ", 1)[0]
    return [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| `")
    ]


def _tracked_folders() -> set[str]:
    """Top-level folders of the repository: those git tracks files in (what tests and tools
    write, such as ``reports/``, is ignored), or, without git, the folders on disk."""
    try:
        listed = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))}
    return {line.split("/", 1)[0] for line in listed if "/" in line and not line.startswith(".")}


def test_the_readme_table_names_every_top_level_folder_and_only_existing_paths() -> None:
    rows = _where_things_are()
    folders = {name.rstrip("/") for row in rows for name in re.findall(r"`([^`]+/)`", row[0])}
    assert folders == _tracked_folders()
    for row in rows:
        for path in re.findall(r"`((?:[a-z_]+/)*[a-z_]+(?:\.py|/))`", row[1]):
            assert (ROOT / "sloctl" / path).exists() or (ROOT / path).exists(), path


def test_no_test_sleeps_a_fixed_time_unless_a_real_timer_is_the_thing_tested() -> None:
    """Waits go through tests/waiting.py; a ``sleep()`` elsewhere carries ``# real timer`` on its
    line or on the comment lines just above it, saying whose timer and why."""
    unexplained = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if path.name == "waiting.py":
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", getattr(node.func, "id", "")) == "sleep"
            ):
                above = lines[node.lineno - 1]
                i = node.lineno - 2
                while i >= 0 and lines[i].strip().startswith("#"):
                    above += lines[i]
                    i -= 1
                if "real timer" not in above:
                    unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not unexplained, "wait on a condition (tests/waiting.py) instead:\n" + "\n".join(unexplained)


def test_no_test_module_imports_another() -> None:
    """What tests share lives in tests/fixtures/ (or beside a package's tests, not in a
    ``test_*`` module): importing a test module drags its marks and fixtures along, and nobody
    looks there for a helper."""
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                # `from .test_x import y` as `from tests.test_x import y`; `from . import test_x` too
                module = node.module or ""
                names = [f"tests.{module}"] if node.level else [module]
                names += [f"tests.{a.name}" for a in node.names] if node.level and not module else []
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any(n.startswith("tests.") and n.rsplit(".", 1)[-1].startswith("test_") for n in names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, "move the shared helper to tests/fixtures/:\n" + "\n".join(found)


def test_no_module_re_exports_a_name_it_imports_from_another_module() -> None:
    """``spec/promcheck.py`` re-exported ``NAMES_MAX`` (defined in ``spec/build.py``) for one
    test, and ``spec/native.py`` ``API_VERSION`` and ``TIER_KEYS`` (``spec/native_shape.py``'s)
    for one module: two places to import one name from."""
    found = set()
    for path in sorted((ROOT / "sloctl").rglob("*.py")):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            a.asname or a.name
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and ((node.module or "").startswith("sloctl") or node.level)
            for a in node.names
        }
        listed = [
            e.value
            for node in tree.body
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets)
            for e in getattr(node.value, "elts", ())
            if isinstance(e, ast.Constant)
        ]
        found |= {(path.relative_to(ROOT).as_posix(), name) for name in listed if name in imported}
    # Importers import a name from where it is defined; a package's ``__init__`` is its public
    # face and may gather names.
    assert not found, "import these from where they are defined:\n" + "\n".join(
        f"{path}: {name}" for path, name in sorted(found)
    )


LONG = 60
"""Lines a function may take before it needs a reason (issue 14: "no function over ~60 lines
without a reason in a comment")."""


def long_functions_without_a_reason(text: str) -> list[tuple[str, int]]:
    """(name, line) of each function longer than ``LONG`` lines with no comment starting with
    ``# Long`` just above its ``def`` (or decorators) or among the first lines of its body."""
    lines = text.splitlines()
    out = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if (node.end_lineno or node.lineno) - node.lineno + 1 <= LONG:
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        body = node.body[1:] if ast.get_docstring(node) is not None and node.body[1:] else node.body
        head = lines[max(first - 3, 0) : body[0].lineno + 2]
        if not any(line.strip().startswith("# Long") for line in head):
            out.append((node.name, node.lineno))
    return out


def test_every_function_over_sixty_lines_says_why_it_is_long() -> None:
    files = [
        p
        for folder in ("sloctl", "testbed", "tests", "benchmarks", "scripts")
        for p in sorted((ROOT / folder).rglob("*.py"))
    ]
    unexplained = [
        f"{path.relative_to(ROOT)}:{line} {name}"
        for path in files
        for name, line in long_functions_without_a_reason(path.read_text(encoding="utf-8"))
    ]
    assert not unexplained, (
        "split these along their seams, or say why each is long in a comment starting with "
        "'# Long' at its top:\n" + "\n".join(unexplained)
    )


def test_the_length_check_sees_a_long_function_and_its_reason() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(LONG))
    text = f"def f():\n    '''Doc.'''\n{body}\n\n# Long but flat: a table.\ndef g():\n{body}"
    assert long_functions_without_a_reason(text) == [("f", 1)]
