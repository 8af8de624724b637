"""Long-term viewer memory in the real daemon, with Groq pointed at a local OpenAI-compatible
server: facts learned in one run recalled in the next, viewers kept apart by id, the forget
command, fact extraction backing off on 429, the `memory` commands, and a kill -9 mid-write."""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemon import run_daemon, wait_until
from peers.openai_server import Behaviour, Echo, OpenAIServer, RateLimited, Recorded, Reply
from test_cli import run_cli

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

MEMORY_OPEN, MEMORY_CLOSE = "<<<MEMORY>>>", "<<<END MEMORY>>>"


class MemoryPeer(OpenAIServer):
    """Replies echo the chat; fact extraction requests (their system prompt is the distiller's)
    get `facts`, or what is scripted in `distill_script` first."""

    def __init__(self, facts: list[str]) -> None:
        self.facts = facts
        self.distill_script: list[Behaviour] = []
        self.distill_requests: list[Recorded] = []
        super().__init__(default=Echo(emotion="happy"))

    def _next(self, recorded: Recorded) -> Behaviour:
        messages = recorded.body.get("messages", []) if isinstance(recorded.body, dict) else []
        if messages and "시청자에 대한 메모" in str(messages[0].get("content", "")):
            self.distill_requests.append(recorded)
            if self.distill_script:
                return self.distill_script.pop(0)
            return Reply({"facts": self.facts})
        return super()._next(recorded)

    def reply_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r not in self.distill_requests]


def _env(peer: OpenAIServer, **extra: str) -> dict[str, str]:
    return {"GROQ_API_KEY": "gsk_memory_test_key", "GROQ_BASE_URL": peer.base_url,
            "GROQ_MODEL": "openai/gpt-oss-120b", "GROQ_TIMEOUT_S": "2", "GROQ_STREAM": "false",
            "MEMORY_DISTILL_INTERVAL_S": "1", "REPLY_BATCH_SIZE": "1", **extra}


def _state(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/api/state", timeout=5).json()


def _running(url: str, name: str) -> bool:
    return any(c["name"] == name and c["state"] == "running" for c in _state(url)["components"])


def _chat(url: str, user: str, message: str, user_id: str | None = None) -> None:
    body = {"user": user, "message": message, **({"user_id": user_id} if user_id else {})}
    assert httpx.post(f"{url}/api/chat", json=body, timeout=5).json()["queued"]


def _answered(url: str, n: int) -> None:
    wait_until(lambda: len(_state(url)["assistant_messages"]) >= n, what=f"{n} answers")


def _memory(url: str, user: str) -> list[dict[str, Any]]:
    return httpx.get(f"{url}/api/memory", params={"user": user}, timeout=5).json()["viewers"]


def _user_content(request: Recorded) -> str:
    return request.body["messages"][-1]["content"]


def test_a_fact_learned_in_one_run_is_recalled_after_a_restart(tmp_path: Path) -> None:
    peer = MemoryPeer(["고양이 '나비'를 키운다"])
    with peer:
        with run_daemon(tmp_path, **_env(peer)) as d:
            wait_until(lambda: _running(d.url, "llm") and _running(d.url, "memory"), what="start")
            for n, text in enumerate(["안녕하세요 처음 왔어요", "우리 집 고양이 이름은 나비예요",
                                      "나비는 세 살이에요"], start=1):
                _chat(d.url, "민수", text, user_id="chzzk-minsu")
                _answered(d.url, n)
            viewer = wait_until(lambda: [v for v in _memory(d.url, "민수") if v["facts"]],
                           what="a distilled fact")[0]
            assert [f["text"] for f in viewer["facts"]] == ["고양이 '나비'를 키운다"]
            assert viewer["user_id"] == "chzzk-minsu" and viewer["messages"] == 3
            assert any(s["answer"] for s in viewer["said"])  # the character's answer is kept too
            assert len(peer.distill_requests) == 1  # never the same text twice
            code, _, out = d.stop(signal.SIGTERM)
            assert code == 0, out
        assert "나비" not in out  # nothing a viewer said reaches the log at INFO
        distilled = _user_content(peer.distill_requests[0])
        assert "우리 집 고양이 이름은 나비예요" in distilled and "<<<CHAT>>>" in distilled
        # The conversation window has moved on: only long-term memory knows about 나비 now.
        for name in ("recent.json", "summary.json"):
            (tmp_path / "history" / name).unlink(missing_ok=True)
        peer.clear()
        with run_daemon(tmp_path, **_env(peer)) as d:
            wait_until(lambda: _running(d.url, "llm") and _running(d.url, "memory"), what="restart")
            _chat(d.url, "민수", "오늘도 왔어요! 나비 잘 있어요?", user_id="chzzk-minsu")
            _answered(d.url, 1)
            d.stop(signal.SIGTERM)
    content = _user_content(peer.reply_requests()[-1])
    before, chat = content.split("<<<CHAT>>>")
    assert MEMORY_OPEN in before and MEMORY_CLOSE in before
    assert "[시청자 「민수」] 방문 2번째" in before
    assert "알게 된 사실: 고양이 '나비'를 키운다" in before
    assert "예전에 한 말" in before and "나비는 세 살이에요" in before
    assert "오늘도 왔어요" not in before  # this message is the chat, not a memory of it
    history = [m["content"] for m in peer.reply_requests()[-1].body["messages"][1:-1]]
    assert not any("나비" in m for m in history)


def test_two_viewers_with_one_nickname_stay_apart(tmp_path: Path) -> None:
    peer = MemoryPeer([])
    with peer, run_daemon(tmp_path, **_env(peer, MEMORY_DISTILL_INTERVAL_S="3600")) as d:
        wait_until(lambda: _running(d.url, "llm") and _running(d.url, "memory"), what="start")
        _chat(d.url, "민수", "저는 라면을 제일 좋아해요", user_id="id-a")
        _chat(d.url, "민수", "저는 라면보다 피자가 좋아요", user_id="id-b")
        _answered(d.url, 2)
        _chat(d.url, "민수", "라면 먹고 싶다", user_id="id-a")
        _answered(d.url, 3)
        viewers = _memory(d.url, "민수")
        assert sorted(v["user_id"] for v in viewers) == ["id-a", "id-b"]
        d.stop(signal.SIGTERM)
    before = _user_content(peer.reply_requests()[-1]).split("<<<CHAT>>>")[0]
    assert "라면을 제일 좋아해요" in before
    assert "피자" not in before  # the other 민수's words are never presented as this one's


def test_the_forget_command_erases_the_viewer_and_the_character_confirms(tmp_path: Path) -> None:
    peer = MemoryPeer([])
    with peer, run_daemon(tmp_path, **_env(peer, MEMORY_DISTILL_INTERVAL_S="3600")) as d:
        wait_until(lambda: _running(d.url, "llm") and _running(d.url, "memory"), what="start")
        _chat(d.url, "지우개", "제 생일은 5월 3일이에요", user_id="u-eraser")
        _chat(d.url, "남는사람", "저는 남아요", user_id="u-stays")
        _answered(d.url, 2)
        assert _memory(d.url, "지우개")
        _chat(d.url, "지우개", "!잊어줘", user_id="u-eraser")
        _answered(d.url, 3)
        wait_until(lambda: not _memory(d.url, "u-eraser"), what="the viewer forgotten")
        assert _memory(d.url, "남는사람")
        forgotten = httpx.post(f"{d.url}/api/memory/forget", json={"user": "남는사람"}, timeout=5)
        assert forgotten.status_code == 200 and forgotten.json() == {"forgotten": 1}
        assert not _memory(d.url, "남는사람")
        d.stop(signal.SIGTERM)
    line = _user_content(peer.reply_requests()[-1]).split("<<<CHAT>>>")[1]
    assert "[기억 삭제 요청" in line and "「지우개」: !잊어줘" in line
    assert "생일" not in _user_content(peer.reply_requests()[-1])


def test_forget_reaches_the_conversation_window_and_the_history_files(tmp_path: Path) -> None:
    """A viewer told the character about their cat, asked about it (the reply named it), then
    typed !잊어줘: the next request must not carry their lines or the answers to them, and the
    saved history must not hold them either; another viewer's exchange stays."""
    peer = MemoryPeer([])
    with peer, run_daemon(tmp_path, **_env(peer, MEMORY_DISTILL_INTERVAL_S="3600")) as d:
        wait_until(lambda: _running(d.url, "llm") and _running(d.url, "memory"), what="start")
        _chat(d.url, "냥집사", "우리 고양이 이름은 나비예요", user_id="u-cat")
        _answered(d.url, 1)
        _chat(d.url, "냥집사", "제 고양이 이름 기억해요?", user_id="u-cat")
        _answered(d.url, 2)
        _chat(d.url, "구경꾼", "떡볶이 먹고 싶다", user_id="u-other")
        _answered(d.url, 3)
        asked = peer.reply_requests()[-1].body["messages"]
        assert "나비" in json.dumps(asked, ensure_ascii=False)  # the window held it before
        _chat(d.url, "냥집사", "!잊어줘", user_id="u-cat")
        _answered(d.url, 4)
        _chat(d.url, "구경꾼", "오늘 뭐 해요?", user_id="u-other")
        _answered(d.url, 5)
        d.stop(signal.SIGTERM)
    for request in peer.reply_requests()[-2:]:  # the forget turn's own request and the next
        history = json.dumps(request.body["messages"][:-1], ensure_ascii=False)
        assert "나비" not in history and "고양이" not in history
    assert "떡볶이" in json.dumps(peer.reply_requests()[-1].body["messages"], ensure_ascii=False)
    saved = (tmp_path / "history" / "recent.json").read_text(encoding="utf-8")
    assert "나비" not in saved and "고양이" not in saved and "떡볶이" in saved
    assert "u-cat" not in saved  # nor the forget turn itself


def test_fact_extraction_backs_off_on_429_and_resumes(tmp_path: Path) -> None:
    peer = MemoryPeer(["떡볶이를 좋아한다"])
    peer.distill_script = [RateLimited(retry_after=0.1, try_again_in="0.1s")]
    with peer, run_daemon(tmp_path, **_env(peer)) as d:
        wait_until(lambda: _running(d.url, "llm") and _running(d.url, "memory"), what="start")
        for n in range(1, 4):
            _chat(d.url, "떡볶이러버", f"떡볶이 {n}인분 먹었어요", user_id="u-tteok")
            _answered(d.url, n)
        wait_until(lambda: [v for v in _memory(d.url, "떡볶이러버") if v["facts"]], timeout=20,
              what="the fact after the 429")
        stats = _state(d.url)["memory"]
        assert stats["distill_failures"] == 1 and stats["facts_learned"] == 1
        d.stop(signal.SIGTERM)
    assert len(peer.distill_requests) == 2  # one 429, not retried at once, then one that worked
    first, second = peer.distill_requests
    assert second.received_at - first.received_at >= 1.9  # the interval doubled (1 s → 2 s)
    assert _user_content(first) == _user_content(second)  # nothing lost: the same text again


def test_memory_commands_show_forget_and_export(tmp_path: Path) -> None:
    peer = MemoryPeer(["매운 음식을 좋아한다"])
    with peer, run_daemon(tmp_path, **_env(peer)) as d:
        wait_until(lambda: _running(d.url, "llm") and _running(d.url, "memory"), what="start")
        for n in range(1, 4):
            _chat(d.url, "매운맛", f"불닭 {n}개째 먹는 중", user_id="u-hot")
            _answered(d.url, n)
        _chat(d.url, "순한맛", "저는 안 매운 게 좋아요", user_id="u-mild")
        _answered(d.url, 4)
        wait_until(lambda: [v for v in _memory(d.url, "매운맛") if v["facts"]], what="a fact")
        top = httpx.get(f"{d.url}/api/memory", timeout=5).json()["viewers"]
        assert [v["nickname"] for v in top] == ["매운맛", "순한맛"]
        d.stop(signal.SIGTERM)
    shown = run_cli("memory", "show", "매운맛", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "매운맛 (u-hot)" in shown.stdout and "매운 음식을 좋아한다" in shown.stdout
    assert "불닭 3개째 먹는 중" in shown.stdout
    listed = run_cli("memory", "show", cwd=tmp_path)
    assert listed.stdout.index("매운맛") < listed.stdout.index("순한맛")
    exported = tmp_path / "out" / "memory.json"
    done = run_cli("memory", "export", str(exported), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(exported.read_text(encoding="utf-8"))
    assert {v["user_id"] for v in data["viewers"]} == {"u-hot", "u-mild"}
    assert exported.stat().st_mode & 0o077 == 0
    forgot = run_cli("memory", "forget", "매운맛", cwd=tmp_path)
    assert forgot.returncode == 0 and "1명을 잊었습니다" in forgot.stdout
    assert "기억하고 있지 않습니다" in run_cli("memory", "show", "u-hot", cwd=tmp_path).stdout


def test_a_kill_9_mid_stream_leaves_the_file_intact_and_the_daemon_starts(tmp_path: Path) -> None:
    peer = MemoryPeer([])
    with peer:
        for round_ in range(3):
            with run_daemon(tmp_path, **_env(peer, MEMORY_DISTILL_INTERVAL_S="3600",
                                              REPLY_BATCH_SIZE="5")) as d:
                wait_until(lambda: _running(d.url, "memory"), what="start")
                for n in range(30):
                    httpx.post(f"{d.url}/api/chat", timeout=5, json={
                        "user": f"시청자{n % 7}", "user_id": f"k{n % 7}",
                        "message": f"{round_}회차 {n}번째 채팅입니다 ㅋㅋ"})
                d.proc.send_signal(signal.SIGKILL)
                d.proc.wait(5)
            with sqlite3.connect(tmp_path / "history" / "memory.sqlite3") as db:
                assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert not list((tmp_path / "history").glob("memory.sqlite3.corrupt-*"))
