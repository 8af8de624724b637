"""Benchmark (issue 32): three platforms at once, each at 100 messages/s, merged into one queue —
intake overhead per platform and the daemon's CPU.

The daemon is the real composition root, ``aischoco.compose.app.build(Settings(...), board)`` run
by its supervisor in this process with ``CHAT_SOURCE=chzzk,youtube,soop``: ``chat/sources.py``
builds the three real sources (CHZZK Open API over Socket.IO 2.x, YouTube's web live-chat feed,
SOOP's binary websocket) and hands each ``ChatIntake.accept`` — overlay, filters, viewer memory
(SQLite), ``Director.submit`` into the one ``ReplyQueue``. No Groq key and TTS off: the director
holds the queue (50, oldest dropped), as the daemon does without an LLM.

The peers run **outside this process**, so the CPU figure is the daemon's own:

- a child process (this file with ``--peers-child``) runs the YouTube peer
  (``tests/peers/youtube_server.py``) and the SOOP peer (``tests/peers/soop_server.py``) and the
  feeder that paces all three platforms;
- the CHZZK peer is the Node Socket.IO 2.x server (``tests/peers/chzzk_socketio.py``), its own
  process; the feeder asks it to emit each chat (``POST /test/emit``).

Traffic per platform: ``--rate`` messages/s (default 100) for ``--seconds`` (default 20) after a
2-second warm-up; mixed Korean chat (each line ends with its sequence number so every line is
unique and can be matched), ``ceil(rate × 5)`` distinct viewers in turn (each speaks every 5 s:
the per-viewer limit of 3 per 10 s and the duplicate check reject nothing), and every 200th
message a gift (CHZZK 치즈 후원, YouTube $5 Super Chat, SOOP 별풍선).

What is timed (wall clock, ``time.time()`` in both processes on the same machine):

- **overhead** = the peer putting the message on the wire → ``Director.submit`` returned (the
  message is in the merged queue). CHZZK: the feeder's POST to the Node peer is started (the
  HTTP hop to Node is included; 1 in 20 CHZZK messages carries Node's own emit stamp, reported
  as ``node emit → queued``). SOOP: just before the peer's ``send_bytes``. YouTube: just after
  the peer built the poll's response (one response carries every action queued since the last poll).
- **YouTube poll wait**, reported apart: the message queued at the peer → the poll that
  carried it. The peer advertises ``timeoutMs`` (default 200 ms here); the daemon clamps it to
  0.5–8 s, so it asks every 0.5 s. Real YouTube advertises several seconds.
- ``intake.accept()`` call: the synchronous cost of the accept itself.
- CPU: this process (the daemon) as % of one core, idle before the traffic and during it; the
  peers' Python process and Node; the rest of the machine.

Run:  python bench/bench_platforms.py [--rate 100] [--seconds 20] [--yt-timeout-ms 200]
                                      [--out r.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from peers import free_port  # noqa: E402

CHANNEL = "bench-platforms-channel"
UC = "UCbenchPlatforms0000000A"
BID = "benchbj"
TOKENS = {"access": "at-bench-platforms", "refresh": "rt-bench-platforms",
          "clientId": "cid-bench", "clientSecret": "csecret-bench", "channelId": CHANNEL}
WARMUP_S = 2.0
GIFT_EVERY = 200
STAMP_EVERY = 20  # CHZZK: 1 in 20 carries Node's own emit time
PLATFORMS = ("chzzk", "youtube", "soop")

PHRASES = (
    "안녕하세요 초코님", "ㅋㅋㅋㅋㅋ 미쳤다", "오늘 방송 몇 시까지 해요?", "와 방금 그거 뭐예요", "ㄹㅇ 개웃기네",
    "초코야 노래 불러줘", "점심 뭐 먹었어?", "이 게임 재밌어 보인다", "방금 들어왔어요~", "헐 대박",
    "ㅠㅠ 너무 슬퍼", "다음 판 가자!", "채팅 읽어주세요", "초코 목소리 좋다", "오늘도 화이팅!!",
    "그거 아니라니까 ㅋㅋ", "저 어제도 왔어요", "보스 패턴 조심", "오른쪽 오른쪽!!", "ㅎㅇㅎㅇ",
    "구독 누르고 갑니다", "이거 몇 레벨이에요?", "아 진짜 아깝다", "굿굿 👍", "배고프다 치킨 먹고 싶어",
    "초코님 최고 {:d_44:}", "GG", "lol 한국어 공부중이에요", "잠깐 화장실 다녀올게요", "퇴근하고 왔습니다",
)
NICKS = ("치즈러버", "초코칩", "밤하늘", "고양이집사", "새벽감성", "딸기우유", "라면왕", "김철수", "모찌떡",
         "별빛", "노을", "감자튀김", "하늘색", "민트초코", "게임고수")


def line(i: int) -> str:
    return f"{PHRASES[(i * 7) % len(PHRASES)]} {i}"


# ==================================================================================================
# The peers' process (this file with --peers-child)
# ==================================================================================================

def peers_child(rate: float, seconds: float, yt_timeout_ms: int) -> None:
    import httpx
    from peers.chzzk_socketio import NodePeer
    from peers.soop_server import SoopServer, balloon_frame, chat_frame
    from peers.youtube_server import YouTubeServer, paid_action, text_action
    from starlette.requests import Request
    from starlette.responses import Response

    class StampedYouTube(YouTubeServer):
        """Notes when each action's poll response was ready (item id → wall clock)."""

        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.answered: dict[str, float] = {}

        async def _get_live_chat(self, request: Request) -> Response:
            response = await super()._get_live_chat(request)
            at = time.time()
            actions = (json.loads(response.body).get("continuationContents", {})
                       .get("liveChatContinuation", {}).get("actions", []))
            for action in actions:
                item = action.get("addChatItemAction", {}).get("item", {})
                renderer = next(iter(item.values()), {})
                if "id" in renderer:
                    self.answered[renderer["id"]] = at
            return response

    node = NodePeer()
    asyncio.run(node.post("/test/tokens", TOKENS))
    yt = StampedYouTube(channel_id=UC, timeout_ms=yt_timeout_ms).start()
    yt.go_live("benchLive01")
    soop = SoopServer(bid=BID).start()
    print(json.dumps({"chzzk": node.base_url, "youtube": yt.web_url, "soop_live": soop.live_api_url,
                      "soop_chat": soop.chat_url_template, "node_pid": node.proc.pid}), flush=True)

    sent: list[list[Any]] = []  # [platform, key, sent_at, extra, warm]
    post_ms: list[float] = []
    soop_loop = soop._loop
    assert soop_loop is not None
    viewers = max(400, math.ceil(rate * 5))

    async def soop_send(frames: bytes, key: str, warm: bool) -> None:
        conns = soop.joined()
        at = time.time()
        for conn in conns:
            await conn.websocket.send_bytes(frames)
        sent.append(["soop", key, at, None, warm])

    def feed(count: int, first: int, warm: bool, http: httpx.Client) -> None:
        t0 = time.perf_counter()
        for n in range(count):
            i = first + n
            delay = t0 + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            viewer = i % viewers
            nick = f"{NICKS[viewer % len(NICKS)]}{viewer}"
            gift = i % GIFT_EVERY == GIFT_EVERY - 1
            text = line(i)
            # CHZZK
            if gift:
                uid = f"giftc{i}"
                body = {"event": "DONATION", "payload": json.dumps({
                    "donationType": "CHAT", "channelId": CHANNEL, "donatorChannelId": uid,
                    "donatorNickname": nick, "payAmount": 1000 * (1 + i % 10),
                    "donationText": "응원해요! " + text,
                    "emojis": {}}, ensure_ascii=False)}
                key = uid
            elif i % STAMP_EVERY == 0:
                uid = f"stamp{i}"
                body = {"event": "CHAT", "count": 1, "stamp": True, "payload": {
                    "channelId": CHANNEL, "senderChannelId": uid,
                    "profile": {"nickname": nick, "userRoleCode": "common_user", "badges": []},
                    "emojis": {}, "messageTime": int(time.time() * 1000)}}
                key = uid
            else:
                body = {"event": "CHAT", "payload": json.dumps({
                    "channelId": CHANNEL, "senderChannelId": f"chzzkviewer{viewer}",
                    "profile": {"nickname": nick, "userRoleCode": "common_user", "badges": []},
                    "content": text,
                    "emojis": {"d_44": "https://e.example/d44.png"} if "{:" in text else {},
                    "messageTime": int(time.time() * 1000)}, ensure_ascii=False)}
                key = text
            at = time.time()
            started = time.perf_counter()
            http.post("/test/emit", json=body).raise_for_status()
            post_ms.append((time.perf_counter() - started) * 1000)
            sent.append(["chzzk", key, at, None, warm])
            # SOOP
            if gift:
                frames, skey = balloon_frame(BID, f"gifts{i}", nick, 10 * (1 + i % 10)), f"gifts{i}"
            else:
                frames, skey = chat_frame(f"soopviewer{viewer}", nick, text), text
            asyncio.run_coroutine_threadsafe(soop_send(frames, skey, warm), soop_loop)
            # YouTube
            if gift:
                ykey = f"UCgift{i:018d}"
                action = paid_action(ykey, nick, "$5.00", "슈퍼챗 " + text)
            else:
                action, ykey = text_action(f"UCviewer{viewer:016d}", nick, text), text
            renderer = next(iter(action["addChatItemAction"]["item"].values()))
            sent.append(["youtube", ykey, time.time(), renderer["id"], warm])
            yt.push(action)

    if sys.stdin.readline().strip() != "go":  # the parent gave up
        yt.stop()
        soop.stop()
        node.stop()
        return
    with httpx.Client(base_url=node.base_url, timeout=10) as http:
        warm_n = int(WARMUP_S * rate)
        feed(warm_n, 1_000_000, True, http)  # other numbers: never mistaken for measured lines
        feed(int(seconds * rate), 0, False, http)
    time.sleep(max(1.0, 3 * yt_timeout_ms / 1000))  # the last poll
    rows = []
    for plat, key, at, extra, warm in sent:
        if plat == "youtube":  # sent = the poll answered; extra = when it was queued at the peer
            rows.append([plat, key, yt.answered.get(extra), at, warm])
        else:
            rows.append([plat, key, at, None, warm])
    print(json.dumps({"sent": rows, "post_ms": post_ms, "yt_polls": len(yt.chat_requests),
                      "yt_timeout_ms": yt.timeout_ms}, ensure_ascii=False), flush=True)
    sys.stdin.readline()  # the parent is done (or gone)
    yt.stop()
    soop.stop()
    node.stop()


# ==================================================================================================
# The daemon's process
# ==================================================================================================


def _key(msg: Any) -> tuple[str, str]:
    from aischoco.core.messages import Kind

    if msg.kind is Kind.DONATION or msg.message.startswith("msg-0 @"):
        return msg.platform, msg.user_id.split(":", 1)[-1]
    return msg.platform, msg.message


class Recorder:
    def __init__(self) -> None:
        self.queued: dict[tuple[str, str], float] = {}
        self.node_stamp: dict[str, float] = {}
        self.accept_ms: dict[str, list[float]] = {p: [] for p in PLATFORMS}
        self.received: dict[str, int] = dict.fromkeys(PLATFORMS, 0)

    def install(self) -> None:
        from aischoco.show.director import Director
        from aischoco.show.intake import ChatIntake

        submit, accept = Director.submit, ChatIntake.accept
        rec = self

        def timed_submit(self: Any, msg: Any, *a: Any, **kw: Any) -> Any:
            out = submit(self, msg, *a, **kw)
            at = time.time()
            key = _key(msg)
            rec.queued[key] = at
            if msg.message.startswith("msg-0 @"):
                rec.node_stamp[key[1]] = float(msg.message.split("@", 1)[1]) / 1000
            return out

        def timed_accept(self: Any, msg: Any) -> Any:
            started = time.perf_counter()
            verdict = accept(self, msg)
            if msg.platform in rec.received:
                rec.accept_ms[msg.platform].append((time.perf_counter() - started) * 1000)
                rec.received[msg.platform] += 1
            return verdict

        Director.submit = timed_submit  # type: ignore[method-assign]
        ChatIntake.accept = timed_accept  # type: ignore[method-assign]


def _settings(tmp: Path, urls: dict[str, Any]) -> Any:
    from aischoco.settings.model import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        chat_source="chzzk,youtube,soop", chzzk_client_id=TOKENS["clientId"],
        chzzk_client_secret=TOKENS["clientSecret"], chzzk_channel_id=CHANNEL,
        chzzk_openapi_url=urls["chzzk"], chzzk_token_path=tmp / "chzzk_token.json",
        youtube_channel_id=UC, youtube_web_url=urls["youtube"],
        soop_channel_id=BID, soop_live_api_url=urls["soop_live"], soop_chat_url=urls["soop_chat"],
        tts_engine="off", vts_enabled=False, idle_talk_after_s=0,
        overlay_host="127.0.0.1", overlay_port=free_port(), history_dir=tmp / "history",
        memory_path=tmp / "memory.sqlite3", log_level="WARNING",
        character_path=ROOT / "config" / "character.txt",
        banned_words_path=ROOT / "config" / "banned_words.txt",
        ai_banned_words_path=ROOT / "config" / "banned_words.txt",
    )


def _cpu(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    try:
        t = proc.cpu_times()
        return t.user + t.system
    except psutil.Error:
        return 0.0


def _busy() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


class Sample:
    def __init__(self, procs: dict[str, psutil.Process | None]) -> None:
        self.at = time.monotonic()
        self.cpu = {name: _cpu(p) for name, p in procs.items()}
        self.busy = _busy()

    def percent(self, later: Sample) -> dict[str, float]:
        wall = later.at - self.at
        out = {name: 100 * (later.cpu[name] - self.cpu[name]) / wall for name in self.cpu}
        out["other"] = 100 * (later.busy - self.busy) / wall - sum(out.values())
        return out


def _stats(values: list[float]) -> dict[str, float] | None:
    from aischoco.core.metrics import percentile

    if not values:
        return None
    v = sorted(values)
    return {"n": len(v), "p50": percentile(v, 50), "p95": percentile(v, 95), "max": v[-1]}


async def _wait_connected(board: Any, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = {i["name"]: i for i in board.snapshot()}
        if all(n in rows and rows[n]["state"] == "running" and "연결됨" in rows[n]["detail"]
               for n in ("chat", "chat_youtube", "chat_soop")):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the chat sources did not connect: {board.snapshot()}")


def start_peers(args: argparse.Namespace) -> subprocess.Popen[str]:
    """The peers' process: this file with --peers-child (stderr: this terminal)."""
    return subprocess.Popen(
        [sys.executable, __file__, "--peers-child", "--rate", str(args.rate),
         "--seconds", str(args.seconds), "--yt-timeout-ms", str(args.yt_timeout_ms)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])})


async def run(args: argparse.Namespace, child: subprocess.Popen[str]) -> dict[str, Any]:
    from aischoco.chat.chzzk_auth import TokenSet, save_tokens
    from aischoco.compose import app
    from aischoco.core.status import StatusBoard

    assert child.stdin is not None and child.stdout is not None
    try:
        urls = json.loads(await asyncio.to_thread(child.stdout.readline))
        procs = {"daemon": psutil.Process(), "peers": psutil.Process(child.pid),
                 "node": psutil.Process(urls["node_pid"])}
        rec = Recorder()
        rec.install()
        with tempfile.TemporaryDirectory(prefix="bench-platforms-") as tmpdir:
            tmp = Path(tmpdir)
            save_tokens(tmp / "chzzk_token.json",
                        TokenSet(TOKENS["access"], TOKENS["refresh"], "Bearer", time.time() + 86400))
            board = StatusBoard()
            supervisor, controls, _ = app.build(_settings(tmp, urls), board)
            stop = asyncio.Event()
            running = asyncio.create_task(supervisor.run(stop, shutdown_timeout_s=5.0))
            try:
                await _wait_connected(board)
                await asyncio.sleep(1.0)
                idle0 = Sample(procs)
                await asyncio.sleep(3.0)
                idle = idle0.percent(Sample(procs))
                child.stdin.write("go\n")
                child.stdin.flush()
                await asyncio.sleep(WARMUP_S + 0.1)
                load0 = Sample(procs)
                await asyncio.sleep(args.seconds)
                load = load0.percent(Sample(procs))
                result = json.loads(await asyncio.to_thread(child.stdout.readline))
                want = sum(1 for r in result["sent"] if not r[4])
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and sum(
                        1 for r in result["sent"] if not r[4] and (r[0], r[1]) in rec.queued) < want:
                    await asyncio.sleep(0.1)
                pending = controls.director.snapshot()
            finally:
                stop.set()
                await running
    finally:
        with contextlib.suppress(OSError):
            child.stdin.write("done\n")
            child.stdin.flush()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return _report(args, rec, result, idle, load, pending)


def _report(args: argparse.Namespace, rec: Recorder, result: dict[str, Any], idle: dict[str, float],
            load: dict[str, float], pending: dict[str, Any]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for plat in PLATFORMS:
        mine = [r for r in result["sent"] if r[0] == plat and not r[4]]
        over, wait, node = [], [], []
        missing = 0
        for _, key, at, pushed, _warm in mine:
            queued = rec.queued.get((plat, key))
            if queued is None or at is None:
                missing += 1
                continue
            over.append((queued - at) * 1000)
            if pushed is not None:
                wait.append((at - pushed) * 1000)
            if key in rec.node_stamp:
                node.append((queued - rec.node_stamp[key]) * 1000)
        rows[plat] = {"sent": len(mine), "queued": len(mine) - missing, "lost": missing,
                      "intake_received_incl_warmup": rec.received[plat],
                      "overhead_ms": _stats(over), "poll_wait_ms": _stats(wait),
                      "total_ms": _stats([o + w for o, w in zip(over, wait)]) if wait else None,
                      "node_emit_to_queued_ms": _stats(node),
                      "accept_call_ms": _stats(rec.accept_ms[plat])}
    return {"date": date.today().isoformat(), "python": platform.python_version(),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
            "rate_per_platform": args.rate, "seconds": args.seconds,
            "yt_timeout_ms": result["yt_timeout_ms"],
            "yt_polls": result["yt_polls"], "chzzk_post_ms": _stats(result["post_ms"]),
            "platforms": rows, "cpu_idle_percent": idle, "cpu_load_percent": load,
            "queue": pending}


def _fmt(s: dict[str, float] | None) -> str:
    return "-" if s is None else f"{s['p50']:.2f} / {s['p95']:.2f} / {s['max']:.1f}"


def print_report(r: dict[str, Any]) -> None:
    print(f"\n== bench_platforms: {r['rate_per_platform']:g} msg/s per platform × {r['seconds']:g} s "
          f"({r['machine']}, Python {r['python']}, {r['date']}) ==")
    print(f"{'platform':<9}{'sent':>6}{'queued':>8}{'lost':>6}  {'overhead p50/p95/max ms':<26}"
          f"{'accept() p50/p95/max ms':<26}")
    for plat, row in r["platforms"].items():
        print(f"{plat:<9}{row['sent']:>6}{row['queued']:>8}{row['lost']:>6}  {_fmt(row['overhead_ms']):<26}"
              f"{_fmt(row['accept_call_ms']):<26}")
    yt = r["platforms"]["youtube"]
    print(f"youtube: poll wait (queued at peer → poll answered) p50/p95/max {_fmt(yt['poll_wait_ms'])} ms; "
          f"total {_fmt(yt['total_ms'])} ms; peer timeoutMs {r['yt_timeout_ms']} (daemon polls every "
          f"max(0.5 s, timeoutMs)), {r['yt_polls']} polls")
    ch = r["platforms"]["chzzk"]
    print(f"chzzk: overhead includes the feeder's POST to Node (p50/p95/max {_fmt(r['chzzk_post_ms'])} ms); "
          f"Node emit stamp → queued {_fmt(ch['node_emit_to_queued_ms'])} ms")
    idle, load = r["cpu_idle_percent"], r["cpu_load_percent"]
    print("CPU % of one core   " + "  ".join(f"{k}: idle {idle[k]:.1f} / load {load[k]:.1f}" for k in load))
    print(f"queue after: {r['queue']}")
    lost = sum(row["lost"] for row in r["platforms"].values())
    worst = max(row["overhead_ms"]["p95"] for row in r["platforms"].values() if row["overhead_ms"])
    print(f"{'PASS' if lost == 0 else 'FAIL'}: lost {lost}")
    print(f"{'PASS' if worst < 100 else 'FAIL'}: worst per-platform overhead p95 {worst:.1f} ms (< 100 ms)")
    print(f"{'PASS' if load['daemon'] < 100 else 'FAIL'}: daemon CPU {load['daemon']:.1f}% of one core")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="messages/s per platform")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--yt-timeout-ms", type=int, default=200,
                        help="timeoutMs the YouTube peer advertises")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--peers-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peers_child:
        peers_child(args.rate, args.seconds, args.yt_timeout_ms)
        return 0
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(run(args, start_peers(args)))
    print_report(result)
    if args.out:
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
