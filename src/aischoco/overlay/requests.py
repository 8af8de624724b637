"""The JSON bodies the panel API accepts (pydantic: a bad body is a 422 with the reason)."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

MAX_MESSAGE_CHARS = 20_000  # hostile 10 KB messages are accepted (and truncated for the LLM)


class ChatIn(BaseModel):
    user: str = Field("로컬", min_length=1, max_length=100)
    user_id: str | None = Field(None, max_length=200)  # the viewer's stable id; default: the nickname
    message: str = Field(..., max_length=MAX_MESSAGE_CHARS)
    kind: Literal["chat", "donation", "subscription"] = "chat"
    role: Literal["viewer", "streamer", "manager"] = "viewer"
    amount: int | None = Field(None, ge=0, le=100_000_000)
    # CHZZK-style emoji: `{:name:}` in message → image URL (http/https only).
    emoticons: dict[str, str] = Field(default_factory=dict, max_length=40)

    @field_validator("emoticons")
    @classmethod
    def _emoji_urls(cls, value: dict[str, str]) -> dict[str, str]:
        for name, url in value.items():
            if not 0 < len(name) <= 50 or len(url) > 2000:
                raise ValueError("emoticon names are 1-50 chars, URLs at most 2000")
            if urlsplit(url).scheme not in ("http", "https"):
                raise ValueError("emoticon URLs must be http(s)")
        return value

    @field_validator("user")
    @classmethod
    def _strip_user(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("user must not be blank")
        return value


class ForgetIn(BaseModel):
    user: str = Field(..., min_length=1, max_length=200)  # a user id or any nickname they used


class FactIn(BaseModel):
    id: int


class PauseIn(BaseModel):
    paused: bool | None = None  # omitted: toggle


class TestIn(BaseModel):
    what: Literal["groq", "tts", "vts", "vts_allow", "audio", "chat", "chat_youtube", "chat_soop",
                  "speak"]


class SettingsIn(BaseModel):
    values: dict[str, Any] = Field(..., max_length=300)


class IdleTalkIn(BaseModel):  # also the vision switch
    enabled: bool
