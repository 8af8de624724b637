"""Component status: what each part of the daemon is doing, for logs, doctor and /api/state."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from .backoff import backoff_delay

log = logging.getLogger(__name__)

DEVICE_RETRY_CAP_S = 30.0


class State(str, Enum):
    OFF = "off"  # switched off by a setting
    NOT_CONFIGURED = "not_configured"  # needs a key, file or URL the streamer has not given
    UNAVAILABLE = "unavailable"  # the part is not built into this version yet
    STARTING = "starting"
    RUNNING = "running"
    DEGRADED = "degraded"  # running, but something needs attention
    RESTARTING = "restarting"  # failed; a restart is scheduled
    STOPPED = "stopped"



@dataclass(slots=True)
class ComponentStatus:
    name: str
    label: str  # Korean name for the panel
    state: State = State.STOPPED
    detail: str = ""
    hint: str = ""  # what the streamer should do (Korean)
    restarts: int = 0
    last_error: str = ""
    since: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    def to_public(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data


Listener = Callable[[ComponentStatus], None]


class StatusBoard:
    """The one place component states live; listeners (overlay feed, logs) are told of changes."""

    def __init__(self) -> None:
        self._items: dict[str, ComponentStatus] = {}
        self._listeners: list[Listener] = []

    def register(self, name: str, label: str, state: State = State.STOPPED, detail: str = "",
                 hint: str = "") -> "StatusHandle":
        self._items[name] = ComponentStatus(name=name, label=label, state=state, detail=detail,
                                            hint=hint)
        return StatusHandle(self, name)

    def update(self, name: str, **changes: Any) -> None:
        item = self._items[name]
        changes = {k: v for k, v in changes.items() if getattr(item, k) != v}
        if not changes:
            return  # no event storms from components re-reporting the same state
        changed_state = "state" in changes
        for key, value in changes.items():
            setattr(item, key, value)
        if changed_state:
            item.since = datetime.now(timezone.utc).isoformat()
            log.info("component %s: %s%s", name, item.state.value,
                     f" ({item.detail})" if item.detail else "")
        for listener in list(self._listeners):
            listener(item)

    def get(self, name: str) -> ComponentStatus:
        return self._items[name]

    def snapshot(self) -> list[dict[str, Any]]:
        return [item.to_public() for item in self._items.values()]

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)


@dataclass(slots=True)
class StatusHandle:
    """A component's own view of the board: it can only change its own row."""

    board: StatusBoard
    name: str

    def set(self, state: State, detail: str = "", hint: str = "") -> None:
        self.board.update(self.name, state=state, detail=detail, hint=hint)

    def note_error(self, error: str) -> None:
        self.board.update(self.name, last_error=error)

    @property
    def current(self) -> ComponentStatus:
        return self.board.get(self.name)

    async def retry_later(self, attempt: int, problem: object, hint: str, what: str) -> None:
        """Opening a local device failed (`attempt` times in a row): say when the next try is,
        log it under `what`, and wait with backoff before it."""
        delay = backoff_delay(attempt, cap_s=DEVICE_RETRY_CAP_S)
        self.set(State.DEGRADED, f"{problem} — {delay:.0f}초 후 다시 시도", hint)
        log.warning("%s: %s (retry in %.1f s)", what, problem, delay)
        await asyncio.sleep(delay)
