"""The tools the LLM is offered, and running the calls it makes (bounded, logged, counted).

Chat is untrusted: a viewer's turn is offered (and may run) only TOOLS_VIEWER_ALLOWED; the
streamer's voice turns may use every tool. A call runs at most TOOL_TIMEOUT_S; a late, failing,
unknown or forbidden call gives the model an error result instead, so the turn still ends with an
answer. The log says which tool ran, how long it took and whether it worked — never its
arguments (they may hold a viewer's personal data).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..ai.tool_calls import ToolCall, tool_message

log = logging.getLogger(__name__)

_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]+")
MAX_DESCRIPTION_CHARS = 600


def tool_name(*parts: str) -> str:
    """A name the OpenAI tools format accepts: [A-Za-z0-9_-], at most 64 characters."""
    return _NAME_BAD.sub("_", "_".join(p for p in parts if p)).strip("_")[:64] or "tool"


Call = Callable[[dict[str, Any]], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object
    call: Call
    source: str = "builtin"  # "builtin" or "mcp:<server>"

    def spec(self) -> dict[str, Any]:
        return {"type": "function", "function": {
            "name": self.name, "description": self.description[:MAX_DESCRIPTION_CHARS],
            "parameters": self.parameters or {"type": "object", "properties": {}}}}


class ToolError(Exception):
    """A tool could not do it; str() is what the model is told."""


@dataclass(slots=True)
class ToolStats:
    calls: Counter[str] = field(default_factory=Counter)  # by "name:status"
    seconds: float = 0.0


class ToolRegistry:
    def __init__(self, *, viewer_allowed: Sequence[str], timeout_s: float,
                 max_rounds: int) -> None:
        self.viewer_allowed = frozenset(viewer_allowed)
        self.timeout_s = timeout_s
        self.max_rounds = max_rounds
        self._tools: dict[str, Tool] = {}
        self.stats = ToolStats()

    # --- the set of tools ----------------------------------------------------------------------
    def add(self, tool: Tool) -> None:
        if tool.name in self._tools and self._tools[tool.name].source != tool.source:
            log.warning("tool %s from %s hides the one from %s", tool.name, tool.source,
                        self._tools[tool.name].source)
        self._tools[tool.name] = tool

    def remove_source(self, source: str) -> None:
        """An MCP server went away: its tools are no longer offered."""
        for name in [n for n, t in self._tools.items() if t.source == source]:
            del self._tools[name]

    def names(self, source: str | None = None) -> list[str]:
        return sorted(n for n, t in self._tools.items() if source is None or t.source == source)

    def allowed(self, name: str, *, streamer: bool) -> bool:
        return name in self._tools and (streamer or name in self.viewer_allowed)

    def specs(self, *, streamer: bool) -> list[dict[str, Any]]:
        """What this turn is offered (OpenAI `tools`): everything for the streamer's voice."""
        return [t.spec() for n, t in sorted(self._tools.items())
                if self.allowed(n, streamer=streamer)]

    # --- running calls -------------------------------------------------------------------------
    async def run(self, calls: Sequence[ToolCall], *, streamer: bool) -> list[dict[str, Any]]:
        """Run one round of calls concurrently; one `tool` message per call, in order."""
        results = await asyncio.gather(*(self._run_one(c, streamer=streamer) for c in calls))
        return [tool_message(call, text) for call, text in zip(calls, results, strict=True)]

    async def _run_one(self, call: ToolCall, *, streamer: bool) -> str:
        started = time.perf_counter()
        status, text = await self._outcome(call, streamer=streamer)
        took = time.perf_counter() - started
        self.stats.calls[f"{call.name}:{status}"] += 1
        self.stats.seconds += took
        log.log(logging.INFO if status == "ok" else logging.WARNING,
                "tool %s: %s in %.0f ms", call.name, status, took * 1000)
        return text

    async def _outcome(self, call: ToolCall, *, streamer: bool) -> tuple[str, str]:
        tool = self._tools.get(call.name)
        if tool is None:
            return "unknown", f"오류: '{call.name}'이라는 도구는 없습니다"
        if not self.allowed(call.name, streamer=streamer):
            return "denied", f"오류: 시청자 채팅으로는 '{call.name}' 도구를 쓸 수 없습니다"
        try:
            args = json.loads(call.arguments) if call.arguments.strip() else {}
        except ValueError:
            return "error", "오류: 인자가 올바른 JSON이 아닙니다"
        if not isinstance(args, dict):
            return "error", "오류: 인자는 JSON 객체여야 합니다"
        try:
            async with asyncio.timeout(self.timeout_s):
                return "ok", await tool.call(args)
        except TimeoutError:
            return "timeout", f"오류: 도구가 {self.timeout_s:g}초 안에 답하지 않았습니다"
        except ToolError as exc:
            return "error", f"오류: {exc}"
        except Exception as exc:  # noqa: BLE001 - a broken tool is the model's error result
            detail = " ".join(str(exc).split())[:200] or type(exc).__name__
            return "error", f"오류: {detail}"

    def snapshot(self) -> dict[str, Any]:
        per_tool: dict[str, dict[str, int]] = {}
        for key, count in self.stats.calls.items():
            name, status = key.rsplit(":", 1)
            per_tool.setdefault(name, {})[status] = count
        return {"enabled": True, "tools": self.names(),
                "viewer_allowed": sorted(self.viewer_allowed & set(self._tools)),
                "calls": per_tool, "total_calls": sum(self.stats.calls.values()),
                "seconds": round(self.stats.seconds, 3)}
