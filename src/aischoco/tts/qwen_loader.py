"""Loading the local Qwen3-TTS model: device and precision choice, download into HF_HOME, clear
errors, and the hooks that let a running generation be cancelled.

Everything here that touches torch / qwen_tts / huggingface_hub imports it lazily: the daemon
without the TTS extras must still import this module (settings, doctor, tests).
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import io
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.supervisor import ComponentError
from .torchaudio_shim import ensure_torchaudio_importable

log = logging.getLogger(__name__)

CPU_WARNING = ("CPU는 실시간보다 느립니다 — 원격 TTS 서버(TTS_ENGINE=remote)를 권장합니다. / "
               "CPU synthesis is slower than real time; a remote TTS server (TTS_ENGINE=remote) "
               "is recommended.")
SMALL_MODEL = "Qwen/Qwen3-TTS-12Hz-0.6B-Base"
OOM_MESSAGE = (f"메모리가 부족합니다. 더 작은 모델(QWEN_TTS_MODEL={SMALL_MODEL})을 쓰거나 그래픽카드를 쓰는 "
               f"다른 프로그램(게임, 다른 AI)을 닫으세요. / Out of memory: use {SMALL_MODEL} or close "
               f"other programs using the GPU.")
INSTALL_HINT = "requirements-tts.txt 맨 위 설치 안내를 따라 로컬 TTS 패키지를 설치하세요."


class TtsLoadError(ComponentError):
    """Loading failed in a way the streamer can fix; str() is Korean then English, `hint` is the
    short Korean next step for the status panel."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class SynthesisCancelled(Exception):
    """Raised inside the model (from a forward hook) to abandon a generation."""


@dataclass(frozen=True, slots=True)
class DeviceChoice:
    device: str  # a torch device map value: "cuda:0", "mps" or "cpu"
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class Precision:
    dtype: str  # torch dtype name
    attention: str  # transformers attn_implementation


def pick_device(requested: str, cuda_ok: bool, mps_ok: bool) -> DeviceChoice:
    """"auto" prefers CUDA, then Apple MPS, then CPU (with a loud warning). An explicitly requested
    accelerator that is missing is an error: silently falling back would make the stream lag."""
    requested = requested.strip().lower()
    if requested in ("auto", "cuda") and cuda_ok:
        return DeviceChoice("cuda:0")
    if requested in ("auto", "mps") and mps_ok:
        return DeviceChoice("mps")
    if requested == "cuda":
        raise TtsLoadError(
            "TTS_DEVICE=cuda인데 CUDA를 쓸 수 없습니다 (NVIDIA 드라이버나 CUDA용 torch가 없습니다). / "
            "TTS_DEVICE=cuda but CUDA is not available (no NVIDIA driver or a CPU-only torch).",
            "CUDA용 torch를 설치하거나 TTS_DEVICE=auto로 바꾸세요.")
    if requested == "mps":
        raise TtsLoadError(
            "TTS_DEVICE=mps인데 Apple GPU(MPS)를 쓸 수 없습니다. / "
            "TTS_DEVICE=mps but Apple MPS is not available.", "TTS_DEVICE=auto로 바꾸세요.")
    if requested not in ("auto", "cpu"):
        raise TtsLoadError(f"알 수 없는 TTS_DEVICE 값: {requested!r} (auto, cuda, mps, cpu 중 하나). / "
                           f"Unknown TTS_DEVICE {requested!r}.", "TTS_DEVICE=auto로 바꾸세요.")
    return DeviceChoice("cpu", CPU_WARNING)


def pick_precision(device: str, *, flash_attn_ok: bool, bf16_ok: bool = True) -> Precision:
    """CUDA: bfloat16 (float16 on GPUs without bf16) with FlashAttention-2 when installed, else
    PyTorch SDPA. CPU and MPS: float32 + SDPA (half precision on CPU is slower, and MPS half
    precision is not validated for this model)."""
    if device.startswith("cuda"):
        dtype = "bfloat16" if bf16_ok else "float16"
        return Precision(dtype, "flash_attention_2" if flash_attn_ok else "sdpa")
    return Precision("float32", "sdpa")


def looks_like_path(model: str) -> bool:
    """Hub ids are exactly "owner/name"; anything else is meant as a folder."""
    return (model.startswith((".", "/", "~", "\\")) or "\\" in model or ":" in model
            or model.count("/") != 1)


def resolve_model_dir(model: str, hf_home: Path) -> Path:
    """A local folder is used as is (offline); a hub id is downloaded (or found) in the cache
    under ``hf_home`` and its snapshot folder returned."""
    local = Path(model).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise TtsLoadError(
                f"모델 폴더에 config.json이 없습니다: {local} (다운로드가 덜 되었거나 다른 폴더입니다). / "
                f"No config.json in the model folder {local}.",
                "QWEN_TTS_MODEL이 Qwen3-TTS 모델 폴더를 가리키는지 확인하세요.")
        return local
    if looks_like_path(model):
        raise TtsLoadError(
            f"모델 폴더가 없습니다: {local}. QWEN_TTS_MODEL에 허브 이름(예: Qwen/Qwen3-TTS-12Hz-1.7B-Base)"
            f"이나 내려받은 폴더를 적으세요. / Model folder not found: {local}.",
            "QWEN_TTS_MODEL 값을 확인하세요.")
    started = time.monotonic()
    snapshot = Path(_download(model, hf_home))
    log.info("model files for %s ready in %s (%.1f s)", model, snapshot, time.monotonic() - started)
    return snapshot


def _download(repo_id: str, hf_home: Path) -> str:
    from huggingface_hub import errors, snapshot_download

    cache_dir = hf_home.expanduser() / "hub"  # the layout HF_HOME itself would use
    log.info("fetching %s into %s (the first run downloads several GB; progress below)",
             repo_id, cache_dir)
    try:
        return snapshot_download(repo_id=repo_id, cache_dir=str(cache_dir))
    except errors.RepositoryNotFoundError as exc:  # also gated/private repos
        raise TtsLoadError(
            f"허브에서 모델을 찾을 수 없습니다: {repo_id} (철자 확인). / Model not found on the Hugging "
            f"Face Hub: {repo_id} ({type(exc).__name__}).", "QWEN_TTS_MODEL 철자를 확인하세요.") from exc
    except errors.LocalEntryNotFoundError as exc:
        raise TtsLoadError(
            f"모델을 내려받지 못했습니다: 인터넷에 연결할 수 없고 {cache_dir}에도 없습니다. / Cannot "
            f"download {repo_id}: offline and not cached in {cache_dir}.",
            "인터넷 연결(HF_HUB_OFFLINE 설정 포함)을 확인하세요.") from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise TtsLoadError(f"디스크 공간이 부족해 모델을 받을 수 없습니다 ({cache_dir}). / Disk full "
                               f"while downloading {repo_id}.", "디스크 공간을 비우세요.") from exc
        raise _download_failed(repo_id, exc) from exc
    except Exception as exc:  # noqa: BLE001 - HTTP/network errors from several libraries
        raise _download_failed(repo_id, exc) from exc


def _download_failed(repo_id: str, exc: Exception) -> TtsLoadError:
    return TtsLoadError(f"모델 다운로드 실패: {repo_id} ({type(exc).__name__}: {exc}). / "
                        f"Downloading {repo_id} failed.", "인터넷 연결을 확인하고 다시 시작하세요.")


def import_qwen_tts() -> tuple[Any, Any]:
    """(torch, qwen_tts.Qwen3TTSModel); the torchaudio stand-in goes in first if needed."""
    try:
        import torch

        ensure_torchaudio_importable()
        # the sox package warns at import when the SoX binary is missing (only the unused 25 Hz
        # tokenizer needs it), and qwen-tts logs "config is None" at INFO on every sentence
        logging.getLogger("sox").setLevel(logging.ERROR)
        logging.getLogger("qwen_tts.core.models.configuration_qwen3_tts").setLevel(logging.WARNING)
        banner = io.StringIO()
        # qwen_tts prints a "flash-attn is not installed" banner on import, meant for the unused
        # 25 Hz tokenizer; the attention choice is logged by us instead
        with contextlib.redirect_stdout(banner):
            from qwen_tts import Qwen3TTSModel
    except ImportError as exc:
        raise TtsLoadError(f"로컬 TTS 패키지가 설치되어 있지 않습니다 ({exc}). / The local TTS packages "
                           f"are not installed ({exc}).", INSTALL_HINT) from exc
    if banner.getvalue().strip():
        log.debug("qwen_tts import printed: %s", banner.getvalue().strip())
    return torch, Qwen3TTSModel


@dataclass(frozen=True, slots=True)
class LoadedModel:
    tts: Any  # qwen_tts.Qwen3TTSModel
    device: DeviceChoice
    precision: Precision
    source: Path
    load_s: float


def load_model(model: str, requested_device: str, hf_home: Path, language: str) -> LoadedModel:
    """Blocking: resolve, download if needed and load the model. Raises TtsLoadError."""
    torch, qwen_model = import_qwen_tts()
    mps = getattr(torch.backends, "mps", None)
    choice = pick_device(requested_device, torch.cuda.is_available(),
                         bool(mps is not None and mps.is_available()))
    cuda = choice.device.startswith("cuda")
    precision = pick_precision(choice.device,
                               flash_attn_ok=cuda and importlib.util.find_spec("flash_attn") is not None,
                               bf16_ok=cuda and torch.cuda.is_bf16_supported())
    source = resolve_model_dir(model, hf_home)
    started = time.monotonic()
    try:
        tts = _from_pretrained(qwen_model, torch, source, choice, precision)
    except Exception as exc:
        if precision.attention != "flash_attention_2" or is_out_of_memory(exc):
            raise _load_failure(exc, source) from exc
        # an installed but broken flash-attn build must not cost the voice: retry with SDPA
        log.warning("loading with FlashAttention-2 failed (%s); retrying with sdpa", exc)
        precision = Precision(precision.dtype, "sdpa")
        try:
            tts = _from_pretrained(qwen_model, torch, source, choice, precision)
        except Exception as retry_exc:
            raise _load_failure(retry_exc, source) from retry_exc
    _check_model(tts, language, source)
    _quiet_pad_warning(tts)
    return LoadedModel(tts, choice, precision, source, time.monotonic() - started)


def _from_pretrained(qwen_model: Any, torch: Any, source: Path, choice: DeviceChoice,
                     precision: Precision) -> Any:
    return qwen_model.from_pretrained(str(source), device_map=choice.device,
                                      dtype=getattr(torch, precision.dtype),
                                      attn_implementation=precision.attention)


def _load_failure(exc: Exception, source: Path) -> TtsLoadError:
    if is_out_of_memory(exc):
        return TtsLoadError(OOM_MESSAGE, "더 작은 모델을 쓰거나 다른 프로그램을 닫으세요.")
    return TtsLoadError(
        f"모델을 불러오지 못했습니다: {source} ({type(exc).__name__}: {exc}). 파일이 깨졌으면 폴더를 "
        f"지우고 다시 받으세요. / Loading {source} failed.", "모델 폴더를 지우고 다시 시작하세요.")


def _check_model(tts: Any, language: str, source: Path) -> None:
    inner = tts.model
    if getattr(inner, "tts_model_type", None) != "base":
        raise TtsLoadError(
            f"목소리 복제에는 Base 모델이 필요합니다: {source}는 "
            f"{getattr(inner, 'tts_model_type', '?')} 모델입니다. / Voice cloning needs a *-Base model.",
            f"QWEN_TTS_MODEL을 {SMALL_MODEL} 같은 Base 모델로 바꾸세요.")
    supported = [str(lang).lower() for lang in inner.get_supported_languages() or []]
    if supported and language.lower() not in supported:
        raise TtsLoadError(f"이 모델은 TTS_LANGUAGE={language}를 지원하지 않습니다 (지원: "
                           f"{', '.join(supported)}). / Unsupported language {language}.",
                           "TTS_LANGUAGE를 Korean으로 두세요.")


def _quiet_pad_warning(tts: Any) -> None:
    """Without a pad id, transformers warns "Setting pad_token_id to eos_token_id" on every
    sentence. Setting it to the codec EOS is exactly what it does anyway (batch size 1)."""
    config = getattr(tts.model.talker, "generation_config", None)
    if config is not None and config.pad_token_id is None:
        config.pad_token_id = tts.model.config.talker_config.codec_eos_token_id


def is_out_of_memory(exc: BaseException) -> bool:
    return (isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError"
            or "out of memory" in str(exc).lower())


class CancelGate:
    """Which job's cancel flag the model's forward hooks check. Only the inference thread sets
    `active`; the hooks run on that same thread."""

    def __init__(self) -> None:
        self.active: threading.Event | None = None

    def check(self) -> None:
        event = self.active
        if event is not None and event.is_set():
            raise SynthesisCancelled()


def install_cancel_hooks(tts: Any, gate: CancelGate) -> None:
    """Make a generation abortable mid-sentence.

    qwen-tts 0.1.1 does not forward extra generate kwargs (such as ``stopping_criteria``) to
    Hugging Face ``generate``: ``Qwen3TTSForConditionalGeneration.generate`` builds a fixed
    ``talker_kwargs`` dict and drops the rest. So the talker (one forward per 80 ms codec frame)
    and its code predictor (one forward per extra codebook in that frame) get a forward pre-hook
    that raises SynthesisCancelled once the job's flag is set; the exception unwinds out of
    ``generate`` within one decoding step, and no state outlives the call (the KV cache is local).
    """
    talker = tts.model.talker

    def hook(_module: Any, _args: Any) -> None:
        gate.check()

    talker.register_forward_pre_hook(hook)
    talker.code_predictor.register_forward_pre_hook(hook)
