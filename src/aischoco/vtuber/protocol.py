"""The VTube Studio public API envelope and its error ids (pure; facts: shared/research/vts.md)."""

from __future__ import annotations

import json
import time
from typing import Any

API_NAME = "VTubeStudioPublicAPI"
API_VERSION = "1.0"
PLUGIN_NAME = "aischoco"
PLUGIN_DEVELOPER = "aischoco"
MAX_VALUE = 1_000_000.0  # VTS rejects injected values beyond ±1e6 (error 451)

# Error id → what it means, for one clear log line (DenchiSoft/VTubeStudio Files/ErrorID.cs).
ERROR_MEANINGS: dict[int, str] = {
    0: "internal server error",
    1: "API access is switched off in VTube Studio",
    2: "request JSON invalid",
    3: "API name invalid",
    4: "API version invalid",
    5: "requestID invalid",
    6: "request type missing or empty",
    7: "request type unknown",
    8: "request requires authentication",
    9: "request requires permission",
    50: "the user denied the plugin (or revoked its token)",
    51: "a token request is already waiting for the user",
    52: "plugin name invalid",
    53: "plugin developer invalid",
    54: "plugin icon invalid",
    100: "authentication token missing",
    101: "authentication plugin name missing",
    102: "authentication plugin developer missing",
    200: "hotkey queue full",
    201: "hotkey execution failed because no model is loaded",
    202: "hotkey id not found in the model",
    203: "hotkey cooldown not over",
    204: "hotkey id missing",
    205: "hotkey execution failed (internal)",
    206: "hotkey execution is disabled in the model",
    207: "hotkey type cannot be triggered by the API",
    208: "hotkey item not found",
    350: "custom parameter name invalid (4-32 letters/digits)",
    351: "custom parameter value range invalid",
    352: "custom parameter: this plugin created too many parameters (100 max)",
    353: "custom parameter name already used by another plugin or a default parameter",
    354: "custom parameter explanation too long",
    355: "custom parameter default value out of range",
    356: "custom parameter cannot be deleted (not ours or unknown)",
    450: "parameter injection list empty",
    451: "injected parameter value out of range (±1,000,000)",
    452: "injected parameter weight out of range (0-1)",
    453: "injected parameter unknown to VTube Studio",
    454: "injected parameter is controlled by another plugin",
    455: "injection mode invalid",
    500: "parameter value request: parameter unknown",
    650: "expression file name missing or invalid",
    651: "expression not found in the model",
    652: "expression request failed: no model loaded",
}

ERR_USER_DENIED = 50
ERR_TOKEN_ONGOING = 51
ERR_NEEDS_AUTH = 8
ERR_UNKNOWN_PARAMETER = 453
ERR_FOREIGN_CONTROL = 454
ERR_HOTKEY_QUEUE_FULL = 200


class VtsError(Exception):
    """Anything that ends a VTS request; str() is one log line."""


class VtsApiError(VtsError):
    """VTube Studio answered APIError."""

    def __init__(self, request_type: str, error_id: int, message: str) -> None:
        self.request_type = request_type
        self.error_id = error_id
        self.message = message
        meaning = ERROR_MEANINGS.get(error_id, "unknown error id")
        super().__init__(f"VTube Studio API error {error_id} ({meaning}) for {request_type}: "
                         f"{message[:200]}")


class VtsConnectionLost(VtsError):
    """The socket closed, could not be opened, or a request timed out."""


def envelope(message_type: str, request_id: str, data: dict[str, Any] | None = None) -> str:
    return json.dumps({"apiName": API_NAME, "apiVersion": API_VERSION, "requestID": request_id,
                       "messageType": message_type, "data": data or {}},
                      separators=(",", ":"), allow_nan=False)


def parse(text: str | bytes) -> dict[str, Any] | None:
    """A decoded response, or None for anything that is not an API envelope (ignored)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("messageType"), str):
        return None
    if not isinstance(doc.get("data"), dict):
        doc["data"] = {}
    return doc


def error_from(request_type: str, doc: dict[str, Any]) -> VtsApiError | None:
    if doc.get("messageType") != "APIError":
        return None
    data = doc["data"]
    raw_id = data.get("errorID")
    error_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else -1
    return VtsApiError(request_type, error_id, str(data.get("message", "")))


def now_ms() -> int:
    return int(time.time() * 1000)
