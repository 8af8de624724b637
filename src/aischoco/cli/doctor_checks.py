"""What one `doctor` row is, and the small helpers every group of checks shares."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import Enum

import httpx

CHECK_TIMEOUT_S = 3.0


class Level(str, Enum):
    OK = "ok"
    WARN = "warn"
    ERROR = "error"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class Check:
    component: str
    level: Level
    detail: str
    todo: str = ""


async def http_status(url: str, headers: dict[str, str] | None = None) -> tuple[int | None, str]:
    """(HTTP status or None, a short Korean description)."""
    try:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_S) as client:
            response = await client.get(url, headers=headers)
        return response.status_code, f"응답 {response.status_code}"
    except httpx.HTTPError as exc:
        return None, f"연결 안 됨 ({type(exc).__name__})"


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def format_table(checks: list[Check]) -> str:
    marks = {Level.OK: "OK  ", Level.WARN: "WARN", Level.ERROR: "FAIL", Level.OFF: "off "}
    name_w = max(_width(c.component) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"{marks[c.level]}  {_pad(c.component, name_w)}  {c.detail}")
        if c.todo:
            lines.append(f"      {_pad('', name_w)}  → {c.todo}")
    return "\n".join(lines)
