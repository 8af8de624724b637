"""Every setting as the panel's settings page shows it: grouped as `.env.example` groups them, with
its one-line Korean explanation (the comment above it there), its default, and whether it is a
secret. `.env.example` stays the one place these words are written."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from .model import Settings

EXAMPLE = Path(__file__).resolve().parents[3] / ".env.example"
_SECTION = re.compile(r"^#\s*──\s*(?P<name>[^─]+?)\s*─")
_KEY = re.compile(r"^(?P<key>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


@dataclass(frozen=True, slots=True)
class SettingInfo:
    key: str
    group: str
    help: str
    default: str
    secret: bool


@dataclass(slots=True)
class Catalog:
    groups: list[tuple[str, list[SettingInfo]]] = field(default_factory=list)

    def keys(self) -> list[str]:
        return [info.key for _, infos in self.groups for info in infos]

    def get(self, key: str) -> SettingInfo | None:
        return next((i for _, infos in self.groups for i in infos if i.key == key), None)


def _secret(name: str) -> bool:
    annotation = str(Settings.model_fields[name].annotation)
    return "SecretStr" in annotation or Settings.model_fields[name].annotation is SecretStr


def parse_catalog(example_text: str) -> Catalog:
    fields = {name.upper(): name for name in Settings.model_fields}
    catalog = Catalog()
    group, comments = "기타", []
    seen: set[str] = set()
    after_key = False  # a comment right after a key starts the next key's explanation
    for line in example_text.splitlines():
        stripped = line.strip()
        if section := _SECTION.match(stripped):
            group, comments, after_key = section.group("name").strip(), [], False
            continue
        if stripped.startswith("#"):
            if after_key:
                comments, after_key = [], False
            comments.append(stripped.lstrip("#").strip())
            continue
        if not stripped:
            comments, after_key = [], False
            continue
        key_match = _KEY.match(stripped)
        if not key_match or key_match.group("key") not in fields or key_match.group("key") in seen:
            continue
        key = key_match.group("key")
        seen.add(key)
        after_key = True
        info = SettingInfo(key, group, " ".join(c for c in comments if c),
                           key_match.group("value"), _secret(fields[key]))
        if not catalog.groups or catalog.groups[-1][0] != group:
            catalog.groups.append((group, []))
        catalog.groups[-1][1].append(info)
        # The comment block above a run of keys explains them all; a blank line ends it.
    for key, name in fields.items():  # never in the example: still editable, under 기타
        if key not in seen:
            if not catalog.groups or catalog.groups[-1][0] != "기타":
                catalog.groups.append(("기타", []))
            catalog.groups[-1][1].append(SettingInfo(key, "기타", "", "", _secret(name)))
    return catalog


def load_catalog(path: Path = EXAMPLE) -> Catalog:
    try:
        return parse_catalog(path.read_text(encoding="utf-8"))
    except OSError:
        return parse_catalog("")
