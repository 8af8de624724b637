"""MCP servers (Model Context Protocol) as tool sources, through the official `mcp` SDK.

MCP_CONFIG_PATH holds the common form every MCP client reads:
    {"mcpServers": {"time": {"command": "uvx", "args": ["mcp-server-time"], "env": {}},
                    "notes": {"url": "http://127.0.0.1:9000/mcp"}}}
(`command` = a local program spoken to over stdio; `url` = streamable HTTP; `"disabled": true`
skips one). Each server is a supervised component with its own status row: started with the
daemon, its tools listed and offered, pinged to notice a server that died, restarted with
backoff. A broken file or a server that will not start is a status row with the reason, never a
failed start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.status import State, StatusHandle
from ..core.supervisor import ComponentError
from .registry import Tool, ToolError, ToolRegistry, tool_name

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0  # starting a server (uvx may download it first) and listing its tools
PING_EVERY_S = 30.0


@dataclass(frozen=True, slots=True)
class McpServerSpec:
    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    url: str | None = None

    @property
    def where(self) -> str:
        return self.url or " ".join([self.command or "", *self.args]).strip()


@dataclass(frozen=True, slots=True)
class McpConfig:
    servers: tuple[McpServerSpec, ...] = ()
    errors: tuple[str, ...] = ()  # one line each, for the status board


def parse_mcp_config(text: str) -> McpConfig:
    """The `mcpServers` form; what is wrong is said per server, the rest still runs."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return McpConfig(errors=(f"JSON이 아닙니다 ({exc})",))
    servers = doc.get("mcpServers") if isinstance(doc, dict) else None
    if not isinstance(servers, dict):
        return McpConfig(errors=('"mcpServers" 객체가 없습니다',))
    specs, errors = [], []
    for name, entry in servers.items():
        if not isinstance(entry, dict):
            errors.append(f"{name}: 설정이 객체가 아닙니다")
            continue
        if entry.get("disabled") is True:
            continue
        command, url, args, env = (entry.get("command"), entry.get("url"), entry.get("args", []),
                                   entry.get("env", {}))
        if not (isinstance(command, str) and command.strip()) and not (
                isinstance(url, str) and url.startswith(("http://", "https://"))):
            errors.append(f"{name}: \"command\"(프로그램) 또는 \"url\"(http://…)이 필요합니다")
            continue
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            errors.append(f"{name}: \"args\"는 글자 목록이어야 합니다")
            continue
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            errors.append(f"{name}: \"env\"는 글자 값의 객체여야 합니다")
            continue
        specs.append(McpServerSpec(str(name), command if isinstance(command, str) else None,
                                   tuple(args), dict(env),
                                   url if isinstance(url, str) and not command else None))
    return McpConfig(tuple(specs), tuple(errors))


def load_mcp_config(path: Path) -> McpConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return McpConfig()
    except (OSError, UnicodeDecodeError) as exc:
        return McpConfig(errors=(f"읽을 수 없습니다 ({exc})",))
    return parse_mcp_config(text)


def result_text(result: Any) -> str:
    """An MCP CallToolResult's content as text (images and other kinds are named, not sent)."""
    parts = []
    for item in getattr(result, "content", None) or []:
        text = getattr(item, "text", None)
        parts.append(text if isinstance(text, str) else f"[{getattr(item, 'type', '내용')}]")
    return "\n".join(parts) or "(빈 결과)"


class McpServer:
    """One MCP server: a supervised component that offers its tools while it is up."""

    def __init__(self, spec: McpServerSpec, registry: ToolRegistry) -> None:
        self.spec = spec
        self.name = tool_name("mcp", spec.name)
        self.source = f"mcp:{spec.name}"
        self._registry = registry

    async def run(self, status: StatusHandle) -> None:
        from mcp import ClientSession  # the SDK loads only when a server is configured

        status.set(State.STARTING, f"시작 중: {self.spec.where}")
        try:
            async with self._transport() as (read, write), ClientSession(read, write) as session:
                try:
                    async with asyncio.timeout(START_TIMEOUT_S):
                        await session.initialize()
                        listed = await session.list_tools()
                except TimeoutError:
                    raise ComponentError(f"{START_TIMEOUT_S:g}초 안에 시작하지 않았습니다") from None
                names = [self._offer(session, t) for t in listed.tools]
                status.set(State.RUNNING, f"도구 {len(names)}개: {', '.join(names)[:200]}")
                log.info("MCP server %s: %d tools", self.spec.name, len(names))
                while True:
                    await asyncio.sleep(PING_EVERY_S)
                    async with asyncio.timeout(10):
                        await session.send_ping()
        except ComponentError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure: the row says why, then a restart
            raise ComponentError(_reason(exc)) from None
        finally:
            self._registry.remove_source(self.source)

    def _offer(self, session: Any, tool: Any) -> str:
        name = tool_name(self.spec.name, tool.name)
        original = tool.name

        async def call(args: dict[str, Any]) -> str:
            result = await session.call_tool(original, args)
            text = result_text(result)
            if getattr(result, "is_error", False):
                raise ToolError(text[:300])
            return text

        self._registry.add(Tool(name, tool.description or original,
                                dict(tool.input_schema or {}), call, source=self.source))
        return name

    @contextlib.asynccontextmanager
    async def _transport(self) -> AsyncIterator[tuple[Any, Any]]:
        if self.spec.url:
            from mcp.client.streamable_http import streamable_http_client

            async with streamable_http_client(self.spec.url) as streams:
                yield streams
            return
        from mcp.client.stdio import StdioServerParameters, stdio_client

        assert self.spec.command is not None
        params = StdioServerParameters(command=self.spec.command, args=list(self.spec.args),
                                       env={**os.environ, **self.spec.env})
        async with stdio_client(params) as streams:
            yield streams


def _reason(exc: BaseException) -> str:
    """The first real error inside anyio's exception groups, in one line."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    detail = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
