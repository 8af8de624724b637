"""start.bat and install-gpu.bat, checked for what can be checked without Windows (no `wine` here).

Not run: neither script has been executed by cmd.exe in this project's CI (Linux). What is checked:
CRLF line endings (cmd misparses labels and `goto` in LF files), UTF-8 with `chcp 65001` before
any Korean text, every command line starting with a reviewed command, the files they name existing,
balanced parentheses, and the Python version gate and CUDA mapping they implement."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ("start.bat", "install-gpu.bat")
REVIEWED = {"@echo", "rem", "chcp", "setlocal", "cd", "set", "where", "if", "py", "python", "echo",
            "pause", "exit", "goto", "start", "for", ")", "else", ":fail", '".venv\\scripts\\python.exe"',
            "%py%"}


def _lines(name: str) -> list[str]:
    raw = (ROOT / name).read_bytes()
    assert b"\r\n" in raw and raw.count(b"\n") == raw.count(b"\r\n"), f"{name}: CRLF only"
    return raw.decode("utf-8").splitlines()


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_line_is_a_reviewed_command(name: str) -> None:
    lines = _lines(name)
    assert lines[0] == "@echo off"
    korean = next(i for i, line in enumerate(lines) if re.search("[가-힣]", line))
    chcp = next(i for i, line in enumerate(lines) if line.strip().startswith("chcp 65001"))
    assert chcp < korean  # the console reads the rest as UTF-8
    depth = 0
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        first = stripped.split()[0].lower()
        assert first in REVIEWED, f"{name}: unreviewed command {stripped!r}"
        code = re.sub(r'"[^"]*"', '""', stripped)  # parentheses inside quotes do not count
        code = code.replace("^(", "").replace("^)", "")
        depth += code.count("(") - code.count(")")
        assert depth >= 0, f"{name}: ')' before '(' at {stripped!r}"
    assert depth == 0, f"{name}: unbalanced parentheses"


def test_the_files_they_install_from_exist_and_the_gates_are_right() -> None:
    start = "\n".join(_lines("start.bat"))
    gpu = "\n".join(_lines("install-gpu.bat"))
    for script in (start, gpu):
        for requirements in re.findall(r"-r (\S+\.txt)", script):
            assert (ROOT / requirements).exists(), requirements
    assert "sys.version_info < (3, 11)" in start and "python.org/downloads" in start
    assert "-m aischoco run" in start and "http://127.0.0.1:8000/" in start
    assert "qwen-tts==0.1.1" in gpu and "--no-deps" in gpu and "torch==2.13.0" in gpu
    assert set(re.findall(r'set "WHEEL=(cu\d+)"', gpu)) == {"cu130", "cu128", "cu126"}
    assert "download.pytorch.org/whl/%WHEEL%" in gpu


def test_the_readme_gives_windows_commands_without_double_ampersands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("**Windows 빠른 시작**", 1)[1].split("\n---", 1)[0]  # right under the two
    section = readme.split("### Windows에서 (터미널 없이)", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```(?:bat|powershell|text)\n(.*?)```", quick + section, re.S)
    assert commands and all("&&" not in block for block in commands)
    # PowerShell 5.1's default execution policy blocks activate.ps1: the lines call the venv's python
    assert all("activate" not in block and "py -3.11" not in block for block in commands)
    assert "start.bat" in quick and "start.bat" in section and "install-gpu.bat" in section
    assert readme.index("**Windows 빠른 시작**") < readme.index("## 빠른 시작")
