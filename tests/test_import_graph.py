"""The house reads top-down: every import in src/ (lazy and TYPE_CHECKING ones included) goes to
the same floor or a lower one, and no two modules import each other, directly or round a loop.

    top     compose/ (app, wiring, …), cli/, __main__      composes and starts everything
    show    show/                                        intake → queue → director → turn → speech
    parts   chat/ ai/ memory/ tts/ audio/ vtuber/ overlay/ listen/ tools/ vision/ voice_studio/ avatar/
    base    core/, settings/                             what every part stands on

("stages" is kept for the turn's stages — LLM, TTS, audio out, animator — in core/stages.py.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import aischoco

SRC = Path(aischoco.__file__).parent
PARTS = {"chat", "ai", "memory", "tts", "audio", "vtuber", "overlay", "listen", "tools", "vision",
         "voice_studio", "avatar"}
TOP = {"compose", "cli", "__main__"}
FLOOR = {"base": 0, "parts": 1, "show": 2, "top": 3}


def module_name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, known: set[str], root: Path = SRC) -> set[str]:
    """The project modules `path` imports, resolved to module names (`from .x import Name` → x;
    `from . import sub` → the package's submodule)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return {m for m in found if m in known and m != name}


def build_graph(root: Path = SRC) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    known = set(files)
    return {name: imported_modules(path, known, root) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def floor_of(module: str) -> str:
    parts = module.split(".")[1:]  # without "aischoco"
    if not parts or parts[0] in ("core", "settings"):
        return "base"
    if parts[0] in PARTS:
        return "parts"
    if parts[0] == "show":
        return "show"
    if parts[0] in TOP:
        return "top"
    raise AssertionError(f"{module}: a new top-level module or package — give it a floor here")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, targets in graph.items():
        for target in targets:
            mine, theirs = floor_of(module), floor_of(target)
            if FLOOR[theirs] > FLOOR[mine]:
                wrong.append(f"{module} ({mine}) imports {target} ({theirs})")
            # core/ is the ground floor: settings and logging set-up sit beside it, not under it
            elif module.startswith("aischoco.core.") and not target.startswith("aischoco.core"):
                wrong.append(f"{module} (core) imports {target}")
    return sorted(wrong)


GRAPH = build_graph()


def test_the_graph_is_read_for_real() -> None:
    # guards the checker itself: a parser that found nothing would pass every rule below
    assert len(GRAPH) > 80
    assert "aischoco.show.director" in GRAPH["aischoco.compose.app"]
    assert "aischoco.core.messages" in GRAPH["aischoco.show.turn"]
    assert "aischoco.ai.history_store" in GRAPH["aischoco.cli.history"]  # `from .ai import x`
    assert "aischoco.cli.doctor_listen" in GRAPH["aischoco.cli.doctor"]


def test_the_top_floor_holds_only_packages() -> None:
    # the composition, the command line and the settings each have a folder; nothing loose
    loose = sorted(p.name for p in SRC.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert loose == []


def test_no_import_cycles_anywhere_in_src() -> None:
    assert cycles(GRAPH) == []


def test_every_import_goes_to_the_same_floor_or_below() -> None:
    assert upward_imports(GRAPH) == []


def test_the_overlay_server_sees_the_show_only_through_its_panel_interface() -> None:
    overlay = {m: t for m, t in GRAPH.items() if m.startswith("aischoco.overlay")}
    assert not any(t.startswith("aischoco.show") for targets in overlay.values() for t in targets)
    assert "aischoco.overlay.panel_api" in GRAPH["aischoco.overlay.server"]


def test_controls_implement_the_panel_interface() -> None:
    from aischoco.overlay.panel_api import PanelApi
    from aischoco.show.controls import Controls

    missing = [name for name in ("state", "status_view", "metrics", "subscribe", "unsubscribe",
                                 "chat", "clear", "toggle_streamer_chat", "set_paused", "skip")
               if not callable(getattr(Controls, name, None))]
    assert missing == []
    assert {n for n in dir(PanelApi) if not n.startswith("_")} <= set(dir(Controls))


@pytest.mark.parametrize(("files", "expected_cycle", "expected_upward"), [
    ({"core/a.py": "from ..show import b\n", "show/b.py": "from ..core import a\n",
      "core/__init__.py": "", "show/__init__.py": ""},
     [["pkg.core.a", "pkg.show.b"]], ["pkg.core.a (base) imports pkg.show.b (show)"]),
    ({"chat/x.py": "def f():\n    from ..compose.wiring import y\n", "compose/wiring.py": "",
      "chat/__init__.py": "", "compose/__init__.py": ""},
     [], ["pkg.chat.x (parts) imports pkg.compose.wiring (top)"]),
    ({"core/s.py": "from ..settings.model import Settings\n", "settings/model.py": "",
      "core/__init__.py": "", "settings/__init__.py": ""},
     [], ["pkg.core.s (core) imports pkg.settings.model"]),
])
def test_the_checker_catches_cycles_and_upward_imports(tmp_path: Path, files: dict[str, str],
                                                      expected_cycle: list[list[str]],
                                                      expected_upward: list[str]) -> None:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    graph = {k.replace("pkg", "aischoco", 1): {t.replace("pkg", "aischoco", 1) for t in v}
             for k, v in build_graph(root).items()}
    rename = [[m.replace("aischoco", "pkg", 1) for m in c] for c in cycles(graph)]
    assert rename == expected_cycle
    assert [w.replace("aischoco", "pkg") for w in upward_imports(graph)] == expected_upward
