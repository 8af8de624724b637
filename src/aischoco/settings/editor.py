"""The panel's settings: show every setting (secrets masked), validate a change with the daemon's own
typed settings model, write the env file (comments kept, atomic, 0600, `.env.bak`), and apply
what can be applied live. Today that is the LLM (key, base URL, model, timeouts: the next answer
uses them), the audio output devices (reopened), chat filters, the reply queue, idle talk and
donation tiers; every other change is saved and listed as needing a restart."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import SecretStr, ValidationError

from .env_file import write_env_file
from ..core.embedded_server import is_loopback
from .model import Settings, explain
from .catalog import Catalog, load_catalog

log = logging.getLogger(__name__)

MAX_VALUE_CHARS = 2000
Apply = Callable[[Settings], object]
# The doctor's check for one page button (cli.doctor.check_one): given, because the settings
# stand below the command line that owns the checks.
CheckRunner = Callable[[str, Settings], Awaitable[Sequence[Any]]]


class SettingsEditor:
    def __init__(self, env_file: Path, settings: Settings, *,
                 live: Sequence[tuple[frozenset[str], Apply]] = (),
                 catalog: Catalog | None = None, checks: CheckRunner | None = None) -> None:
        """`live`: (keys, apply) pairs: a change to any of these keys is applied by calling
        `apply(new_settings)` (a falsy result: it could not be, so a restart is needed)."""
        self.env_file = Path(env_file)
        self.settings = settings
        self._live = list(live)
        self.catalog = catalog or load_catalog()
        self._checks = checks

    def view(self) -> dict[str, Any]:
        """Every setting with its current value; a secret only says whether it is set."""
        groups = []
        for name, infos in self.catalog.groups:
            fields = []
            for info in infos:
                value = getattr(self.settings, info.key.lower())
                item: dict[str, Any] = {"key": info.key, "help": info.help,
                                        "default": "" if info.secret else info.default,
                                        "secret": info.secret, **info.page()}
                if info.secret:
                    item["is_set"] = value is not None
                    item["value"] = ""
                else:
                    item["value"] = _shown(value)
                fields.append(item)
            groups.append({"name": name, "note": self.catalog.notes.get(name, ""),
                           "fields": fields})
        return {"env_file": str(self.env_file), "groups": groups}

    async def test(self, what: str) -> dict[str, Any]:
        """One `doctor` check with the saved settings: the page's 테스트 buttons."""
        if self._checks is None:
            return {"component": what, "level": "off", "detail": "이 데몬에서는 점검을 할 수 없습니다",
                    "todo": "", "checks": []}
        checks = await self._checks(what, self.settings)
        worst = max(checks, key=lambda c: ("off", "ok", "warn", "error").index(c.level.value))
        return {**_check_dict(worst), "checks": [_check_dict(c) for c in checks]}

    def save(self, values: Mapping[str, object]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body). Nothing is written unless every value is valid."""
        changes: dict[str, str | None] = {}
        errors: dict[str, str] = {}
        for key, raw in values.items():
            info = self.catalog.get(key)
            if info is None:
                errors[key] = "알 수 없는 설정입니다"
                continue
            if not isinstance(raw, str) or len(raw) > MAX_VALUE_CHARS or "\n" in raw:
                errors[key] = "한 줄 글자여야 합니다"
                continue
            if info.secret and raw == "":
                continue  # left masked: the stored secret stays
            changes[key] = raw.strip()
        current = {k: v for k, v in dotenv_values(self.env_file).items() if v is not None} \
            if self.env_file.exists() else {}
        candidate = {**current, **{k: v for k, v in changes.items() if v is not None}}
        if not errors:
            try:
                new = Settings(_env_file=None,  # type: ignore[call-arg]
                               **{k.lower(): v for k, v in candidate.items()
                                  if v != "" and k.lower() in Settings.model_fields})
            except ValidationError as exc:
                for err in exc.errors():
                    field = str(err["loc"][0]).upper() if err["loc"] else "?"
                    errors[field] = explain(err)  # Korean, with what is allowed
            else:
                if not is_loopback(new.overlay_host) and new.panel_password is None:
                    errors["PANEL_PASSWORD"] = ("OVERLAY_HOST가 이 PC가 아니면 설정 페이지 비밀번호가 "
                                                "필요합니다")
        if errors:
            return 422, {"saved": False, "errors": errors}
        understood = {k: v for k, v in new.understood.items() if k in changes}
        for key, note in understood.items():  # a pasted address or key is written as understood
            changes[key] = _plain(getattr(new, key.lower()))
            log.info("setting %s read as meant: %s", key, note)
        # A value the daemon already runs with (the same again, a default typed out) changes
        # nothing: it is not added to the file and restarts nothing. A file line that differs
        # (edited by hand since the start) is still rewritten.
        live = {k for k in changes if _plain(getattr(new, k.lower()))
                != _plain(getattr(self.settings, k.lower()))}
        written = {k for k, v in changes.items() if current.get(k, "") != v
                   and (k in current or k in live)}
        changed = written & live
        if written:
            write_env_file(self.env_file, {k: changes[k] for k in sorted(written)})
            log.info("settings saved: %s", ", ".join(sorted(written)))  # names only, never values
        self.settings = new
        applied: set[str] = set()
        for keys, apply in self._live:
            touched = changed & keys
            if touched and apply(new) is not False:
                applied |= touched
        moved = changed & {"OVERLAY_HOST", "OVERLAY_PORT"}
        return 200, {"saved": True, "changed": sorted(written), "applied": sorted(applied),
                     "restart_needed": sorted(changed - applied), "understood": understood,
                     "panel_url": f"{new.overlay_base_url}/settings" if moved else None}


def _check_dict(check: Any) -> dict[str, Any]:
    return {"component": check.component, "level": check.level.value, "detail": check.detail,
            "todo": check.todo}


def _plain(value: object) -> str:
    """A value as the env file holds it (a secret's own text)."""
    return value.get_secret_value() if isinstance(value, SecretStr) else _shown(value)


def _shown(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, SecretStr):
        return ""
    return str(value)
