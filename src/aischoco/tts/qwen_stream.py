"""Streaming Qwen3-TTS: codec frames are decoded to audio while the sentence is still generated.

qwen-tts 0.1.1 generates every frame, then decodes the whole sentence. Here the very same
``model.generate`` call runs (same prompt, sampling, seed and RNG use, so the same codes), and a
forward hook on the talker sees each frame the moment its 16 codes exist: the talker's decode
step for frame k+1 first runs the code predictor for frame k. Every N frames a window of
``left_context`` earlier frames plus the new ones is decoded and exactly 1920 samples per context
frame are dropped, so the pieces join like ``chunked_decode`` does. The reference clip's codes are
the left context of the first window, just as the whole-sentence decode sees them.

GPU speed-ups (``apply_speedups``) are opt-in and only touch CUDA models; CPU runs eagerly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .frame_budget import max_frames
from .qwen_loader import SynthesisCancelled

log = logging.getLogger(__name__)

Emit = Callable[[np.ndarray, int], None]
CodesSink = Callable[[Any], None]  # gets the sentence's codes (frames x codebooks) at the end


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """chunk_frames: frames per chunk after the first (12.5 frames = 1 s of audio).
    first_chunk_frames: the first chunk is emitted after exactly this many frames (the
    time-to-first-audio lever). left_context_frames: earlier frames re-decoded with each window
    so the causal decoder's state is warm at the join (qwen-tts' own chunked_decode uses 25)."""

    chunk_frames: int = 4
    first_chunk_frames: int = 2
    left_context_frames: int = 25

    def __post_init__(self) -> None:
        if min(self.chunk_frames, self.first_chunk_frames) < 1 or self.left_context_frames < 0:
            raise ValueError("chunk sizes must be >= 1 frame and the left context >= 0")


class WindowDecoder:
    """Decodes a growing code sequence piece by piece. ``decode(codes[1, Q, T]) -> wav[1, 1,
    T * samples_per_frame]`` is the codec decoder; ``context`` (frames x Q, may be empty) are codes
    before the first new frame (the reference clip), used only as left context."""

    def __init__(self, decode: Callable[[Any], Any], context: Any, *, left_context: int,
                 samples_per_frame: int) -> None:
        import torch

        self._torch, self._decode = torch, decode
        self._codes: list[Any] = list(context)  # one [Q] tensor per frame
        self._done = len(self._codes)  # frames already turned into audio (or context)
        self._left, self._spf = left_context, samples_per_frame

    @property
    def pending(self) -> int:
        return len(self._codes) - self._done

    def push(self, frame: Any) -> None:
        self._codes.append(frame)

    def take(self) -> np.ndarray:
        """Audio for every pending frame: exactly ``pending * samples_per_frame`` samples."""
        end, start = len(self._codes), self._done
        context = min(self._left, start)
        window = self._torch.stack(self._codes[start - context:end]).T.unsqueeze(0)  # [1, Q, T]
        with self._torch.inference_mode():
            wav = self._decode(self._torch.clamp(window, min=0))
        self._done = end
        audio = wav.reshape(-1)[context * self._spf:(context + end - start) * self._spf]
        return audio.float().cpu().numpy()


class StreamingProducer:
    """A ``SentenceProducer`` that emits a chunk every N codec frames (see module doc)."""

    def __init__(self, tts: Any, prompt: Any, language: str, *, seed: int | None,
                 max_new_tokens: int | None, options: Mapping[str, Any],
                 config: StreamConfig = StreamConfig(),
                 on_codes: CodesSink | None = None) -> None:
        self._tts, self._language, self._seed = tts, language, seed
        self._cap, self._options, self.config = max_new_tokens, dict(options), config
        self._max_frames, self._on_codes = max_frames, on_codes
        tts._validate_languages([language])
        # what generate_voice_clone derives from the prompt on every call, derived once
        self._prompt = tts._prompt_items_to_voice_clone_prompt(prompt)
        self._ref_ids = [tts._tokenize_texts([tts._build_ref_text(item.ref_text)])[0]
                         if item.ref_text else None for item in prompt]
        ref_code = self._prompt["ref_code"][0]
        self._context = [] if ref_code is None else list(ref_code)
        codec = tts.model.speech_tokenizer.model
        self._decoder = codec.decoder
        self._spf = int(codec.get_decode_upsample_rate())
        self._rate = int(codec.get_output_sample_rate())
        self._eos = tts.model.config.talker_config.codec_eos_token_id

    def produce(self, text: str, emit: Emit, cancel: threading.Event) -> None:
        import torch

        if self._seed is not None:
            torch.manual_seed(self._seed)  # same seed → same codes as the whole-sentence path
        tts, config = self._tts, self.config
        device = self._decoder.device
        window = WindowDecoder(self._decoder, [c.to(device) for c in self._context],
                               left_context=config.left_context_frames, samples_per_frame=self._spf)
        frames: list[Any] = []
        ended = False

        def on_step(_module: Any, _args: Any, output: Any) -> None:
            nonlocal ended
            codes = output.hidden_states[1]  # None at prefill; else the previous frame's codes
            # generate() keeps the frames before the first codec EOS (it only runs past one
            # when eos_token_id is overridden): stream exactly those
            ended = ended or (codes is not None and int(codes[0, 0]) == self._eos)
            if codes is None or ended:
                return
            frame = codes[0].to(device)
            frames.append(frame)
            window.push(frame)
            if cancel.is_set():
                raise SynthesisCancelled()
            due = config.chunk_frames if window.pending < len(frames) else config.first_chunk_frames
            if window.pending >= due:
                emit(window.take(), self._rate)

        input_ids = tts._tokenize_texts([tts._build_assistant_text(text)])
        kwargs = tts._merge_generate_kwargs(
            **{"max_new_tokens": self._max_frames(text, self._cap), **self._options})
        handle = tts.model.talker.register_forward_hook(on_step)
        try:
            with torch.no_grad():
                codes, _ = tts.model.generate(
                    input_ids=input_ids, ref_ids=self._ref_ids, voice_clone_prompt=self._prompt,
                    languages=[self._language], non_streaming_mode=False, **kwargs)
        finally:
            handle.remove()
        if len(codes[0]) != len(frames):  # the hook must have seen exactly the kept frames
            raise RuntimeError(f"streamed {len(frames)} frames but generate kept {len(codes[0])}")
        if cancel.is_set():
            return
        if window.pending:
            emit(window.take(), self._rate)
        if self._on_codes is not None:
            self._on_codes(codes[0])


COMPILE_MODES = ("off", "compile", "cudagraphs")


def apply_speedups(tts: Any, device: str, *, static_cache: bool, compile_mode: str) -> list[str]:
    """Opt-in GPU speed-ups; returns what was applied. Off CUDA nothing changes (eager CPU/MPS).

    static_cache: HF ``generate`` preallocates the talker's and code predictor's KV caches
    (fixed shapes, no per-step growth). compile: ``torch.compile`` of both transformer stacks;
    cudagraphs: the same in "reduce-overhead" mode, which replays captured CUDA graphs (needs the
    static cache's fixed shapes, so it switches the static cache on). The first sentences after
    this compile/capture: call ``warm_up`` at start-up, not on the first viewer's message."""
    if compile_mode not in COMPILE_MODES:
        raise ValueError(f"TTS_COMPILE must be one of {', '.join(COMPILE_MODES)}")
    wanted = static_cache or compile_mode != "off"
    if not wanted:
        return []
    if not device.startswith("cuda"):
        log.info("TTS GPU speed-ups requested but the device is %s: running eagerly", device)
        return []
    import torch

    talker = tts.model.talker
    applied: list[str] = []
    if static_cache or compile_mode == "cudagraphs":
        talker.generation_config.cache_implementation = "static"
        talker.code_predictor.generation_config.cache_implementation = "static"
        applied.append("static-cache")
    if compile_mode != "off":
        mode = "reduce-overhead" if compile_mode == "cudagraphs" else "default"
        for stack in (talker.model, talker.code_predictor.model):
            stack.forward = torch.compile(stack.forward, mode=mode, dynamic=False)
        applied.append(f"torch.compile({mode})")
    return applied
