"""docs/settings.md, generated from the same catalogue the settings page shows (`.env.example`'s
explanations, the Korean names, 기본/고급, the model's choices and ranges), so the two cannot
disagree. `python -m aischoco.settings.reference > docs/settings.md`; a test keeps it current."""

from __future__ import annotations

import sys

from .catalog import Catalog, Control, load_catalog

HEAD = """# 설정 참고 (모든 설정)

`.env` 파일(또는 컨트롤 패널의 **설정** 페이지 `/settings`)에서 바꿉니다. 환경 변수가 `.env`보다 우선합니다.
이 문서는 설정 페이지와 같은 목록에서 만들어집니다 (`python -m aischoco.settings.reference > docs/settings.md`).
**기본**은 처음에 볼 것, **고급**은 설정 페이지에서 접혀 있는 것입니다.
"""


def _allowed(control: Control) -> str:
    if control.kind == "switch":
        return "켜기/끄기 (`true`/`false`)"
    if control.choices:
        return " · ".join(f"`{value}` {words}".rstrip() for value, words in control.choices)
    if control.kind == "number":
        low = "" if control.minimum is None else f"{control.minimum:g}"
        high = "" if control.maximum is None else f"{control.maximum:g}"
        return f"숫자 {low}~{high}" if low or high else "숫자"
    return ""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render(catalog: Catalog) -> str:
    out = [HEAD]
    for group, infos in catalog.groups:
        out.append(f"\n## {group}\n")
        note = catalog.notes.get(group)
        if note:
            out.append(_cell(note) + "\n")
        out.append("| 설정 | 키 | 기본값 | 값 | 설명 |\n|---|---|---|---|---|")
        for info in infos:
            default = "(비밀: 비워 둠)" if info.secret else (f"`{info.default}`" if info.default
                                                          else "(비어 있음)")
            level = "" if info.advanced else " **기본**"
            out.append(f"| {_cell(info.label or info.key)}{level} | `{info.key}` | {default} | "
                       f"{_cell(_allowed(info.control))} | {_cell(info.help)} |")
    return "\n".join(out) + "\n"


def main() -> int:
    sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[attr-defined]
    sys.stdout.write(render(load_catalog()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
