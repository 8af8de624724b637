"""The file sink (AUDIO_OUTPUT_DEVICE=file:…, what the soak and the tests play into) stays flat over
a stream's worth of blocks (issue 37). Writing an array through soundfile reads its
``__array_interface__``, a fresh dict whose interned keys are made and freed on every block; after
tens of thousands of blocks that churn makes CPython rebuild its interned-string table, one large
block that stays (+1.9 MB in the soak's process, ~0.9 MB in a bare one). Writing bytes does not.

Each way runs in a fresh interpreter, so the interned table starts the same for both."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("soundfile")

BLOCKS = 50_000  # about 17 minutes of 20 ms blocks while the character speaks
SCRIPT = """
import sys, tracemalloc
import numpy as np, soundfile
from aischoco.audio.players import write_pcm16
from aischoco.tts.pcm import float_to_pcm16

def as_array(sink, block):  # how the sink wrote before
    sink.write(np.frombuffer(float_to_pcm16(block), dtype="<i2"))

write = write_pcm16 if sys.argv[2] == "ours" else as_array
block = np.full(8, 0.25, dtype=np.float32)
with soundfile.SoundFile(sys.argv[1], "w", samplerate=8000, channels=1, subtype="PCM_16",
                         format="WAV") as sink:
    write(sink, block)  # warm: the first call's own allocations are not growth
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(int(sys.argv[3])):
        write(sink, block)
    print(tracemalloc.get_traced_memory()[0] - base)
"""


def _growth(tmp_path: Path, way: str) -> int:
    wav = tmp_path / f"{way}.wav"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(wav), way, str(BLOCKS)],
                          capture_output=True, text=True, encoding="utf-8", timeout=120, check=True)
    import soundfile

    assert soundfile.info(str(wav)).frames == 8 * (BLOCKS + 1)  # every block written, none lost
    return int(done.stdout.strip())


def test_file_sink_writes_its_blocks_without_growing(tmp_path: Path) -> None:
    assert _growth(tmp_path, "ours") < 64 * 1024


def test_writing_arrays_is_what_grew(tmp_path: Path) -> None:
    """The control: the old way still shows the step here, so the test above can fail."""
    assert _growth(tmp_path, "array") > 512 * 1024
