"""A real AudioOutput writing to a WAV file (the `file:` sink), running as it does in the daemon."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aischoco.audio.output import AudioOutput
from aischoco.core.status import StatusBoard


@asynccontextmanager
async def running_output(spec: str, **options: object) -> AsyncIterator[AudioOutput]:
    output = AudioOutput(spec, **options)  # type: ignore[arg-type]
    board = StatusBoard()
    task = asyncio.create_task(output.run(board.register("audio", "오디오 출력")))
    try:
        for _ in range(400):
            if output.available or task.done():
                break
            await asyncio.sleep(0.005)
        if task.done():
            task.result()
        assert output.available, board.get("audio").detail
        yield output
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await output.aclose()


@asynccontextmanager
async def file_output(path: Path, **options: object) -> AsyncIterator[AudioOutput]:
    async with running_output(f"file:{path}", **options) as output:
        yield output
