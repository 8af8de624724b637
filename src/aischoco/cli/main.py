"""Command line: `python -m aischoco <command>`. Every failure is one clear line, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from ..settings.model import Settings, SettingsError, load_settings

EXIT_OK = 0
EXIT_PROBLEMS = 1  # doctor found something required missing
EXIT_SETTINGS = 2  # invalid settings or usage
EXIT_NOT_AVAILABLE = 3  # the command's part is not in this version yet

# Commands whose part comes with a later piece of work: (what is missing, in one line).
NOT_YET: dict[str, str] = {}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aischoco",
                                     description="aischoco — 치지직 AI 버튜버")
    parser.add_argument("--version", action="version", version=f"aischoco {__version__}")
    env = argparse.ArgumentParser(add_help=False)
    env.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("run", parents=[env], help="데몬 실행 (run the daemon)")
    sub.add_parser("doctor", parents=[env], help="구성 요소 점검 (check every component)")
    auth = sub.add_parser("auth", parents=[env], help="치지직 / VTube Studio 인증")
    auth.add_argument("service", choices=["chzzk", "vts"])
    sub.add_parser("devices", parents=[env], help="오디오 출력 장치 목록")
    say = sub.add_parser("say", parents=[env], help="LLM 없이 TEXT를 말하기")
    say.add_argument("text")
    say.add_argument("--emotion", default="neutral",
                     choices=["happy", "sad", "angry", "surprised", "neutral", "excited"])
    server = sub.add_parser("tts-server", parents=[env], help="로컬 TTS를 원격 TTS 서버로 제공")
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=8880)
    history = sub.add_parser("history", parents=[env], help="대화 기록 관리")
    history.add_argument("action", choices=["show", "summarize", "backup", "reset"])
    memory = sub.add_parser("memory", parents=[env], help="시청자 기억: show [USER] · forget USER · "
                                                           "export PATH.json")
    memory.add_argument("action", choices=["show", "forget", "export"])
    memory.add_argument("target", nargs="?", help="USER (user id or nickname) or PATH.json")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")  # a legacy console code page must not crash us
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    env_file = Path(args.env_file)
    try:
        settings = load_settings(env_file)
    except SettingsError as err:
        print(f"aischoco: {err}", file=sys.stderr)
        return EXIT_SETTINGS

    key = f"auth {args.service}" if args.command == "auth" else args.command
    if key in NOT_YET:
        print(f"aischoco {key}: {NOT_YET[key]}", file=sys.stderr)
        return EXIT_NOT_AVAILABLE
    if key == "auth chzzk":
        from ..chat.chzzk_auth import run_auth

        try:
            return asyncio.run(run_auth(settings))
        except KeyboardInterrupt:
            print("aischoco auth chzzk: 취소됨 — cancelled", file=sys.stderr)
            return EXIT_PROBLEMS
    if key == "auth vts":
        from ..vtuber.auth_cli import run_auth_vts

        try:
            return asyncio.run(run_auth_vts(settings))
        except KeyboardInterrupt:
            print("aischoco auth vts: 취소됨 — cancelled", file=sys.stderr)
            return EXIT_PROBLEMS
    if args.command == "doctor":
        return _doctor(settings, env_file if env_file.exists() else None)
    if args.command in ("devices", "say", "tts-server"):
        return _voice(settings, args)
    if args.command == "history":
        from .history import run_history_command
        from .logging_setup import setup_logging

        setup_logging("WARNING", settings.secret_values())
        return run_history_command(settings, args.action)
    if args.command == "memory":
        from .logging_setup import setup_logging
        from .memory import run_memory_command

        setup_logging("WARNING", settings.secret_values())
        return run_memory_command(settings, args.action, args.target)
    return _run(settings, env_file)


def _voice(settings: Settings, args: argparse.Namespace) -> int:
    from . import tts as tts_commands
    from .logging_setup import setup_logging

    setup_logging(settings.log_level if args.command == "tts-server" else "WARNING",
                  settings.secret_values())
    if args.command == "devices":
        return tts_commands.run_devices(settings)
    if args.command == "say":
        return tts_commands.run_say(settings, args.text, args.emotion)
    return tts_commands.run_tts_server(settings, args.host, args.port)


def _run(settings: Settings, env_file: Path) -> int:
    from ..compose.app import run_daemon
    from ..core.heap import limit_malloc_arenas
    from .logging_setup import setup_logging

    limit_malloc_arenas()  # before the first thread: free holes stay in two arenas (core/heap.py)
    setup_logging(settings.log_level, settings.secret_values())
    try:
        return asyncio.run(run_daemon(settings, env_file))
    except KeyboardInterrupt:  # Ctrl-C before our handlers were installed
        return EXIT_OK


def _doctor(settings: Settings, env_file: Path | None) -> int:
    from .doctor import run_checks
    from .doctor_checks import Level, format_table

    checks = asyncio.run(run_checks(settings, env_file))
    print(format_table(checks))
    failed = [c for c in checks if c.level is Level.ERROR]
    if failed:
        print(f"\n필수 항목 {len(failed)}개가 준비되지 않았습니다 (required items missing).")
        return EXIT_PROBLEMS
    return EXIT_OK
