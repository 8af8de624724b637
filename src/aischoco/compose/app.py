"""The composition root: the whole pipeline on one screen.

    chat (CHZZK · YouTube · SOOP · local) ───────────┐
    microphone ─► VAD ─► STT (turn end: smart-turn) ─┴► intake ─► overlay state ─► SSE /overlay
                                                        └─► filters ─► reply queue ─► director
        turn: LLM (free-plan model chain) ─► segmenter ─► TTS ─► audio
              └─► animator ─► VTube Studio · WS /ws/params · /avatar (image set or VRM, in OBS)
              (emotion, speaking, lip-sync from the audio blocks as they are heard)
    The streamer talking over the AI cuts or ducks its speech (barge-in, through the director).
    Quiet chat: the director lets the character speak first (idle talk); a blind on the platform
    takes a message back from the overlay, the queue and the voice.
    Viewer memory: intake notes each accepted viewer message; the LLM's request gets the
    senders' cards (recalled on the memory thread); facts are distilled in the background.
    Tools: the LLM may call built-in tools and MCP servers' tools before it answers.
    Vision: OBS/screen frames → a vision model → scene notes in each reply request.
    Voice studio (/voice): a sample recorded or uploaded in the panel is checked, previewed and
    saved, and the TTS engine speaks with it from the next sentence (no restart).
    Avatar (/avatar, /avatar/setup): the animator's motion drawn in the browser, no VTube Studio.
    Free plan: each answer goes to the first model of the chain with budget left (ai/budget.py).
Every long-running part is a supervised component; Ctrl-C / SIGTERM stop them all within 5 s.

The house reads top-down; each floor imports only the floors below it (tests/test_import_graph.py):
    compose/ cli/   composed and started (this file, wiring, tools, vision) · the commands
    show/     the show: intake, reply queue, director, turn (+ turn_events), speech, panel controls
    chat/ ai/ memory/ tts/ audio/ vtuber/ overlay/ listen/ tools/ vision/ voice_studio/ avatar/
              the parts (overlay sees the show only through overlay/panel_api.PanelApi)
    core/ settings/   what every part stands on: messages, stage protocols, status board,
              supervisor, backoff, metrics, segmenter, atomic files; the one settings object
A turn tells the show what happens on one path: show/turn_events.TurnEvents (AnswerShown,
SentenceStarted, SentenceEnded, VoiceWait); the overlay and the director listen there.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from ..ai.responder import GroqResponder
from ..chat.chzzk_web_login import ChzzkWebLogin
from ..chat.filters import ChatFilter
from ..chat.sources import build_chat_sources
from ..cli.doctor import check_one
from ..core.error_log import RecentErrors
from ..core.embedded_server import is_loopback
from ..core.heap import freeze_after_first_starts
from ..core.metrics import LatencyStats
from ..core.signals import stop_on_signals
from ..core.status import State, StatusBoard
from ..core.supervisor import Supervisor
from ..overlay.component import OverlayServer
from ..overlay.server import create_app
from ..overlay.state import OverlayState
from ..settings.model import Settings
from ..show.controls import Controls
from ..show.director import Director, Pause
from ..show.intake import ChatIntake
from ..show.reply_queue import ReplyQueue
from ..show.on_overlay import queue_on_overlay, turn_on_overlay
from ..show.turn import TurnRunner
from ..show.turn_events import TurnEvents
from .live_settings import Restarts, live_appliers
from .port_check import overlay_port_problem
from ..settings.editor import SettingsEditor
from .tools import build_tools
from .avatar import build_avatar
from .vision import build_vision
from ..voice_studio.routes import voice_routes
from ..voice_studio.studio import VoiceStudio
from ..vtuber.params_feed import ParamsFeed
from .wiring import (build_idle_talk, build_memory, build_stages, build_listener, filter_config,
                     segmenter_config, listener_row)

log = logging.getLogger(__name__)


def build(settings: Settings, board: StatusBoard,
          env_file: Path | None = None) -> tuple[Supervisor, Controls, RecentErrors]:
    stats = LatencyStats()
    overlay = OverlayState(max_viewer=settings.overlay_max_messages,
                           ignore_streamer_chat=settings.hide_streamer_chat)
    board.subscribe(lambda item: overlay.publish({"type": "status", "component": item.to_public()}))

    params_feed = ParamsFeed()  # animator frames for other renderers (WS /ws/params)
    stages, stage_components = build_stages(settings, board, params_feed)
    # Every turn's events (answer shown, sentence started/ended, voice wait) go one way: the
    # overlay listens here, the director when it is built (show/turn_events.py).
    turn_events = TurnEvents(turn_on_overlay(overlay))
    runner = TurnRunner(
        stages, stats, segmenter=segmenter_config(settings), events=turn_events,
        voice_starting=lambda: any(board.get(name).state is State.STARTING
                                   for name in ("tts", "audio")),
        donation_tiers=settings.donation_tiers,
    )
    memory = build_memory(settings, board, stages.llm)  # viewers: noted at intake, recalled per reply
    tools = build_tools(settings, board, stages.llm, memory)  # built-ins + MCP servers' tools
    # The stream's picture → scene notes for replies and idle talk; paused with the replies.
    pause = Pause()
    vision = build_vision(settings, board, stages.llm, paused=lambda: pause.on)
    listener = None  # the streamer's microphone → a voice turn at the top of the queue; barge-in
    director = Director(ReplyQueue(settings.reply_queue_size, settings.reply_max_age_s), runner,
                        batch_size=settings.reply_batch_size,
                        idle=build_idle_talk(settings, memory, vision),
                        streamer_talking=lambda: listener is not None and listener.talking,
                        pause=pause, on_change=queue_on_overlay(overlay))
    # The LLM finishing its start-up is the moment to answer what waited, not the next idle tick.
    board.subscribe(lambda item: director.wake() if item.name == "llm" else None)
    intake = ChatIntake(ChatFilter(filter_config(settings)), overlay, director, memory=memory,
                        forget_command=settings.memory_forget_command)
    row = listener_row(settings)
    board.register(row.name, row.label, row.state, row.detail, row.hint)
    if row.state is State.STARTING:
        listener = build_listener(settings, submit=intake.accept,
                                  ai_busy=lambda: director.speaking, interrupt=director.skip,
                                  audio=stages.audio)

    def llm_info() -> dict[str, Any] | None:  # the LLM may start later (its first key saved)
        snapshot = getattr(stages.llm, "snapshot", None)
        return snapshot() if snapshot is not None else None

    errors = RecentErrors()  # attached to logging by run_daemon, for the panel's "최근 오류"
    supervisor = Supervisor(board)

    def overlay_server(s: Settings) -> OverlayServer:  # again when OVERLAY_HOST/PORT change
        app = create_app(controls, bind_host=s.overlay_host, params_feed=params_feed,
                         panel_password=s.panel_password.get_secret_value()
                         if s.panel_password else None,
                         routers=[voice_routes(controls), avatar.routes])
        return OverlayServer(app, s.overlay_host, s.overlay_port, public_url=s.overlay_base_url,
                             on_stop=lambda: (overlay.close_subscribers(), params_feed.close()))

    def attach_llm(responder: GroqResponder) -> None:  # an LLM that starts after the daemon did
        responder.viewers = memory
        responder.tools = tools.registry
        responder.scene = vision.context if vision is not None else None

    restarts = Restarts(lambda: supervisor, overlay_server, attach_llm)
    editor = (SettingsEditor(env_file, settings,
                             live=live_appliers(stages, intake, director, runner, restarts),
                             checks=check_one)
              if env_file is not None else None)
    # The avatar drawn in OBS without VTube Studio (/avatar): the animator's frames, an image set
    # or a VRM model; its row says what is wrong with a broken set.
    avatar = build_avatar(lambda: editor.settings if editor else settings, stages.animator,
                          editor.save if editor else None, say=runner.say,
                          busy=lambda: director.speaking)
    controls = Controls(intake, director, overlay, board, stats, llm_info=llm_info,
                        listener_info=listener.snapshot if listener else None,
                        memory=memory,
                        tools_info=tools.registry.snapshot if tools.registry else None,
                        vision=vision,
                        settings_editor=editor,
                        chzzk_login=ChzzkWebLogin(lambda: editor.settings if editor else settings),
                        voice_studio=VoiceStudio(lambda: editor.settings if editor else settings,
                                                 lambda: runner.stages.tts),
                        errors=errors.snapshot,
                        overlay_options={"fade_after_s": settings.overlay_fade_s,
                                         "max_messages": settings.overlay_max_messages})

    for component in stage_components:  # LLM, TTS engine, audio out, VTube Studio animator
        supervisor.add(component, board.get(component.name).label)
        supervisor.on_shutdown(component.name, component.aclose)
    # Every platform in CHAT_SOURCE is its own component (row, reconnect, back-off): one room.
    for chat in build_chat_sources(settings, intake.accept, intake.hide):
        supervisor.add(chat.component, chat.label)
        restarts.chat_names.add(chat.component.name)
        for close in chat.closers:
            supervisor.on_shutdown(chat.component.name, close)
    supervisor.add(director, "답변 디렉터")
    if memory is not None:
        supervisor.add(memory, board.get(memory.name).label)
        supervisor.on_shutdown(memory.name, memory.aclose)
    if vision is not None:
        supervisor.add(vision, board.get(vision.name).label)
        supervisor.on_shutdown(vision.name, vision.aclose)
    for server in tools.servers:
        supervisor.add(server, f"MCP 도구: {server.spec.name}")
    for close in tools.closers:
        supervisor.on_shutdown("tools", close)
    if listener is not None:
        supervisor.add(listener, row.label)
        supervisor.on_shutdown(listener.name, listener.aclose)
    supervisor.add(avatar.component, "아바타")
    supervisor.on_shutdown(avatar.component.name, avatar.component.aclose)
    supervisor.add(overlay_server(settings), "오버레이 서버")
    return supervisor, controls, errors


async def run_daemon(settings: Settings, env_file: Path | None = None) -> int:
    if not is_loopback(settings.overlay_host) and settings.panel_password is None:
        log.error("OVERLAY_HOST=%s opens the control panel and its settings to other machines: "
                  "set PANEL_PASSWORD first", settings.overlay_host)
        return 2
    # One daemon per port, checked before anything starts: a second `run` must not start a second
    # chat, voice and VTube Studio link beside the first (nor claim to be the one serving).
    problem = await overlay_port_problem(settings)
    if problem is not None:
        log.error("%s", problem.message)
        return problem.exit_code
    for key, note in settings.understood.items():  # pasted values, as they were read
        log.info("setting %s: %s", key, note)
    board = StatusBoard()
    supervisor, _, errors = build(settings, board, env_file)
    logging.getLogger().addHandler(errors)
    if not is_loopback(settings.overlay_host):
        log.warning("OVERLAY_HOST=%s: the control panel is reachable from other machines",
                    settings.overlay_host)
    log.info("aischoco running: overlay %s/overlay, control panel %s/",
             settings.overlay_base_url, settings.overlay_base_url)
    for item in board.snapshot():  # say once, up front, what is missing and what to do
        if item["state"] in ("not_configured", "unavailable", "degraded"):
            log.warning("%s: %s%s", item["label"], item["detail"],
                        f" → {item['hint']}" if item["hint"] else "")
    stop = asyncio.Event()
    # Once the parts have started, their objects leave the garbage collector's way: full
    # collections stay ~1 ms all stream instead of stalling the loop 60–85 ms (core/heap.py).
    heap = asyncio.create_task(freeze_after_first_starts(board), name="heap")
    try:
        with stop_on_signals(stop):
            await supervisor.run(stop, shutdown_timeout_s=settings.shutdown_timeout_s)
    finally:
        heap.cancel()
        logging.getLogger().removeHandler(errors)
    log.info("aischoco stopped")
    return 0
