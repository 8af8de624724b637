"""One place that opens the listener's ONNX models (Silero VAD, smart-turn) the same way: one CPU
thread each (the streamer's PC also runs the game, OBS, STT and TTS) and a Korean-first reason,
as `error`, when the file or onnxruntime is missing or the file is not a model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime


def open_session(path: Path, what_ko: str, what_en: str,
                 error: type[Exception]) -> onnxruntime.InferenceSession:
    if not path.is_file():
        raise error(f"{what_ko} 파일이 없습니다: {path} / {what_en} file not found: {path}")
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise error("onnxruntime이 설치되지 않았습니다: pip install onnxruntime / "
                    "onnxruntime is not installed") from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), sess_options=options,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise error(f"{what_ko}을 열 수 없습니다: {path} ({reason}) / "
                    f"cannot load the {what_en} {path}") from exc
