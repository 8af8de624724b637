"""The real audio-device path stays flat over a stream's worth of blocks (issue 37).

The soak plays into the file sink, where soundfile's array handling once grew the process by
1.9 MB (tests/test_file_sink_memory.py). A streamer's audio goes the other way: a PortAudio stream
whose callback thread (sounddevice's cffi wrapper → `DevicePlayer._callback`) reads the playback
buffer, copies the block to both sides of the cable and hands it to the lip-sync listeners. Here
that whole path runs for real into an ALSA `null` device, which asks for blocks far faster than real
time, so a stream's worth of callbacks (50,000 ≈ 17 minutes of 20 ms blocks) takes seconds.

Each run is a fresh interpreter. Memory is measured with the buffer drained at both ends, so the
audio still queued is not counted as growth."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from system_deps import ALSA_CONF, require_portaudio

BLOCKS = 50_000
SCRIPT = """
import sys, threading, time, tracemalloc
import numpy as np
from aischoco.audio.devices import list_output_devices
from aischoco.audio.players import DevicePlayer

device = next(d for d in list_output_devices(refresh=True) if d.name.startswith("aischoco_null"))
player = DevicePlayer(device)
speech = (0.3 * np.sin(np.arange(player.rate // 4) * 0.05)).astype(np.float32)  # 250 ms
blocks, ended, kept = [0], [0], {}

def on_block(block, events, at):  # what the lip-sync listener is handed
    blocks[0] += 1
    ended[0] += sum(1 for e in events if e.boundary.name == "ENDED")
    if sys.argv[2] == "leaky":  # the control: a listener that keeps something per block
        kept[blocks[0]] = at

def play_until(count):
    segment = 0
    while blocks[0] < count:
        if player.buffer.pending_frames < player.rate // 2:
            segment += 1
            player.buffer.push(segment, speech)
            player.buffer.finish(segment)
        time.sleep(0.002)
    while player.buffer.pending_frames:  # drained: queued audio is not growth
        time.sleep(0.002)
    time.sleep(0.05)
    return segment

player.start(on_block)
try:
    play_until(2_000)  # warm: the stream's and numpy's first allocations are not growth
    tracemalloc.start()
    base, at_base, ended_base = tracemalloc.get_traced_memory()[0], blocks[0], ended[0]
    pushed = play_until(at_base + int(sys.argv[1]))
    grown = tracemalloc.get_traced_memory()[0] - base
    assert player.problem() is None, player.problem()
finally:
    player.stop()
print(grown, blocks[0] - at_base, ended[0] - ended_base, pushed)
"""


def _run(tmp_path: Path, way: str) -> tuple[int, int, int]:
    require_portaudio()
    conf = tmp_path / "asoundrc"
    conf.write_text('pcm.aischoco_null { type null hint { show on description "null" } }\n',
                    encoding="utf-8")
    env = {**os.environ, "ALSA_CONFIG_PATH": f"{ALSA_CONF}:{conf}"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(BLOCKS), way], env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    grown, blocks, ended, _pushed = (int(v) for v in done.stdout.split())
    assert blocks >= BLOCKS
    assert ended > 100  # segments really played through and ended, not only silence
    return grown, blocks, ended


def test_the_device_callback_path_does_not_grow(tmp_path: Path) -> None:
    grown, _, _ = _run(tmp_path, "ours")
    assert grown < 64 * 1024


def test_a_listener_that_keeps_per_block_state_is_seen(tmp_path: Path) -> None:
    """The control: growth on the audio thread shows in this measurement, so the test above can fail."""
    grown, blocks, _ = _run(tmp_path, "leaky")
    assert grown > 50 * blocks  # a dict entry and a float per block: ~100 bytes each
