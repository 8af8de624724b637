"""Korean Windows decodes text as cp949 unless told otherwise: every text-mode file, pipe and
temp file in src/, tests/ and bench/ names its encoding. CI also runs the suite with
-X warn_default_encoding and EncodingWarning as an error; this static check covers the paths a
Linux run never takes (Windows-only branches, error paths)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TREES = ("src", "tests", "bench", "examples", "mac_tts_server")
SUBPROCESS_CALLS = {"run", "Popen", "check_output", "call", "check_call"}
TEMPFILE_CALLS = {"TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile"}


def _keywords(call: ast.Call) -> dict[str, ast.expr]:
    return {k.arg: k.value for k in call.keywords if k.arg is not None}


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _text_mode(mode: ast.expr | None, default_text: bool) -> bool:
    if mode is None:
        return default_text
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return "b" not in mode.value
    return False  # computed mode: not judged


def problems_in(source: str, name: str = "<string>") -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename=name)):
        if not isinstance(node, ast.Call):
            continue
        kw = _keywords(node)
        if "encoding" in kw or any(isinstance(k, ast.keyword) and k.arg is None
                                   for k in node.keywords):
            continue  # an explicit encoding, or **options we cannot see into
        func = node.func
        attr = func.attr if isinstance(func, ast.Attribute) else None
        where = f"{name}:{node.lineno}"
        if isinstance(func, ast.Name) and func.id == "open":
            mode = node.args[1] if len(node.args) > 1 else kw.get("mode")
            if _text_mode(mode, True) and len(node.args) < 4:
                found.append(f"{where} open() in text mode without encoding")
        elif attr == "open" and (node.args or "mode" in kw):
            mode = node.args[0] if node.args else kw.get("mode")
            if (isinstance(mode, ast.Constant) and isinstance(mode.value, str)
                    and set(mode.value) <= set("rwaxt+") and _text_mode(mode, False)):
                found.append(f"{where} .open({mode.value!r}) without encoding")
        elif attr == "read_text" and not node.args:
            found.append(f"{where} read_text() without encoding")
        elif attr == "write_text" and len(node.args) < 2:
            found.append(f"{where} write_text() without encoding")
        elif attr in SUBPROCESS_CALLS and (_is_true(kw.get("text"))
                                           or _is_true(kw.get("universal_newlines"))):
            found.append(f"{where} subprocess {attr}(text=True) without encoding")
        elif attr in TEMPFILE_CALLS:
            mode = node.args[0] if node.args else kw.get("mode")
            if _text_mode(mode, False):
                found.append(f"{where} tempfile.{attr} in text mode without encoding")
    return found


def test_every_text_file_and_pipe_names_its_encoding() -> None:
    found = []
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            if "node_modules" in path.parts:
                continue
            found += problems_in(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == []


@pytest.mark.parametrize(("line", "bad"), [
    ("open(p)", True),
    ("open(p, 'rb')", False),
    ("open(p, 'w', encoding='utf-8')", False),
    ("p.read_text()", True),
    ("p.read_text('utf-8')", False),
    ("p.write_text(s)", True),
    ("p.write_text(s, encoding='utf-8')", False),
    ("p.open('a')", True),
    ("p.open('rb')", False),
    ("subprocess.run(a, text=True)", True),
    ("subprocess.run(a, text=True, encoding='utf-8')", False),
    ("subprocess.Popen(a, stdout=PIPE)", False),
    ("tempfile.TemporaryFile(mode='w+')", True),
    ("tempfile.TemporaryFile()", False),
    ("client.open(url)", False),
])
def test_the_check_itself(line: str, bad: bool) -> None:
    assert bool(problems_in(line)) is bad
