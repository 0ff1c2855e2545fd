"""No production module knows how to cheat: nothing under node/ imports the lab package (the
adversaries, the demo, the benchmarks), and no `poc` command has an option that cheats."""

from __future__ import annotations

import ast
from pathlib import Path

from click.testing import CliRunner

import node
from node.cli.main import _register, cli

NODE = Path(node.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for n in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(n, ast.Import):
            names.update(a.name for a in n.names)
        elif isinstance(n, ast.ImportFrom) and n.module:
            names.add(n.module)
    return names


def test_no_production_module_imports_the_lab() -> None:
    offenders = {
        str(p.relative_to(NODE.parent)): sorted(m for m in _imports(p) if m.startswith("poc_lab"))
        for p in NODE.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(offenders) > 50  # the walk saw the package


def test_no_production_module_mentions_an_adversary_switch() -> None:
    for p in NODE.rglob("*.py"):
        text = p.read_text()
        assert "POC_TEST_ONLY" not in text and "adversary" not in text.lower(), p


def test_no_poc_command_has_a_cheat_option() -> None:
    _register()
    runner = CliRunner()
    seen = 0

    def walk(group: object, path: list[str]) -> None:
        nonlocal seen
        for name, cmd in getattr(group, "commands", {}).items():
            seen += 1
            for param in cmd.params:
                flags = " ".join(getattr(param, "opts", []))
                assert "cheat" not in flags and "adversar" not in flags, (path + [name], flags)
                assert not getattr(param, "hidden", False), (path + [name], flags)
            walk(cmd, path + [name])

    walk(cli, [])
    assert seen > 20
    assert runner.invoke(cli, ["provider", "run", "--test-cheat", "op"]).exit_code == 2
