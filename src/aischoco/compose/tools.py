"""Which tools the character may use: the built-ins, plus one supervised component per MCP server
in MCP_CONFIG_PATH. A broken config file is a status row with the reason, never a failed start."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from ..ai.responder import GroqResponder
from ..core.stages import LanguageModel
from ..core.status import State, StatusBoard
from ..memory.component import ViewerMemory
from ..settings.model import Settings
from ..tools.builtin import builtin_tools
from ..tools.mcp_servers import McpServer, load_mcp_config
from ..tools.registry import ToolRegistry

TOOLS_ROW = ("tools", "도구")


@dataclass(slots=True)
class ToolsPlan:
    registry: ToolRegistry | None = None
    servers: list[McpServer] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def build_tools(settings: Settings, board: StatusBoard, llm: LanguageModel,
                memory: ViewerMemory | None) -> ToolsPlan:
    name, label = TOOLS_ROW
    if not settings.tools:
        board.register(name, label, State.OFF, "TOOLS=off: 도구 없이 답합니다")
        return ToolsPlan()
    registry = ToolRegistry(viewer_allowed=settings.tools_viewer_allowed,
                            timeout_s=settings.tool_timeout_s, max_rounds=settings.tool_max_calls)
    http = httpx.AsyncClient(timeout=httpx.Timeout(min(settings.tool_timeout_s, 10.0)),
                             headers={"User-Agent": "aischoco"})
    for tool in builtin_tools(channel_id=settings.chzzk_channel_id,
                              api_url=settings.chzzk_web_api_url, http=http,
                              memory_lookup=memory.lookup if memory is not None else None):
        registry.add(tool)
    config = load_mcp_config(settings.mcp_config_path)
    servers = [McpServer(spec, registry) for spec in config.servers]
    detail = f"기본 도구 {len(registry.names())}개" + (
        f" + MCP 서버 {len(servers)}개" if servers else "")
    if config.errors:
        board.register(name, label, State.DEGRADED, detail,
                       f"{settings.mcp_config_path}: " + "; ".join(config.errors)[:300])
    else:
        board.register(name, label, State.RUNNING, detail)
    if isinstance(llm, GroqResponder):
        llm.tools = registry
    return ToolsPlan(registry, servers, [http.aclose])
