"""LLM tool calls on the wire, OpenAI format (pure: no I/O).

A streamed answer sends a call in pieces: the first delta of each call carries its `index`, `id`
and `function.name`, later ones more of `function.arguments` (a JSON text cut anywhere).
`ToolCallAssembler` puts them back together by index; a whole answer carries them complete in
`message.tool_calls`. The results go back as `tool` messages, fenced like chat: a tool's output
is data from outside (a web page, another program), never an instruction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .prompts import TOOL_CLOSE, TOOL_OPEN, sanitize_untrusted

MAX_RESULT_CHARS = 2000  # a tool result longer than this is cut (a 1 MB page is not a prompt)
MAX_CALLS_PER_ROUND = 8  # a model asking for more at once gets the first 8


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # the JSON text as the model wrote it (parsed by the tool runner)


@dataclass(slots=True)
class _Partial:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    """Collects `delta.tool_calls` pieces of one streamed answer."""

    def __init__(self) -> None:
        self._calls: dict[int, _Partial] = {}

    def feed(self, pieces: object) -> None:
        if not isinstance(pieces, list):
            return
        for piece in pieces:
            if not isinstance(piece, dict):
                continue
            index = piece.get("index", len(self._calls))
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 64:
                continue
            partial = self._calls.setdefault(index, _Partial())
            if isinstance(piece.get("id"), str):
                partial.id = partial.id or piece["id"]
            function = piece.get("function")
            if isinstance(function, dict):
                if isinstance(function.get("name"), str):
                    partial.name += function["name"]
                if isinstance(function.get("arguments"), str):
                    partial.arguments.append(function["arguments"])

    def __bool__(self) -> bool:
        return bool(self._calls)

    def calls(self) -> list[ToolCall]:
        out = []
        for index in sorted(self._calls):
            p = self._calls[index]
            if p.name:
                out.append(ToolCall(p.id or f"call_{index}", p.name, "".join(p.arguments)))
        return out[:MAX_CALLS_PER_ROUND]


def parse_tool_calls(message: object) -> list[ToolCall]:
    """`message.tool_calls` of a whole (non-streamed) answer."""
    if not isinstance(message, dict):
        return []
    assembler = ToolCallAssembler()
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        assembler.feed([{**c, "index": i} for i, c in enumerate(calls) if isinstance(c, dict)])
    return assembler.calls()


def assistant_message(calls: Sequence[ToolCall]) -> dict[str, Any]:
    """The assistant turn that asked for these calls, as the next request must repeat it."""
    return {"role": "assistant", "content": "",
            "tool_calls": [{"id": c.id, "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments or "{}"}}
                           for c in calls]}


def fence_result(text: str) -> str:
    """A tool's output as the model sees it: one fenced block of untrusted data, cut short."""
    lines = [sanitize_untrusted(line) for line in text.splitlines()]
    body = "\n".join(line for line in lines if line)
    if len(body) > MAX_RESULT_CHARS:
        body = body[:MAX_RESULT_CHARS - 1] + "…"
    return f"{TOOL_OPEN}\n{body}\n{TOOL_CLOSE}"


def tool_message(call: ToolCall, result: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call.id, "name": call.name,
            "content": fence_result(result)}
