"""Lets ``import qwen_tts`` work without a usable torchaudio.

``qwen_tts`` always imports its 25 Hz tokenizer, which does ``import torchaudio.compliance.kaldi``
at import time, but only that tokenizer ever calls ``kaldi.fbank``; the 12 Hz models we use compute
their features with librosa and ``torch.stft``. torchaudio must match the installed torch build
exactly, and there is no CPU torchaudio wheel for every torch release, so when the real module does
not import we register inert stand-ins. Calling anything on them raises a clear error instead of a
confusing AttributeError deep inside the model.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import itertools
import logging
import sys
import types
from typing import Any, NoReturn

log = logging.getLogger(__name__)

_MARKER = "__aischoco_standin__"
_NAMES = ("torchaudio", "torchaudio.compliance", "torchaudio.compliance.kaldi")


class TorchaudioMissing(RuntimeError):
    """Something called into the torchaudio stand-in."""


def ensure_torchaudio_importable() -> bool:
    """True when the real ``torchaudio.compliance.kaldi`` imports; otherwise install stand-ins
    (once per process) and return False."""
    existing = sys.modules.get("torchaudio")
    if existing is not None and getattr(existing, _MARKER, False):
        return False
    try:
        importlib.import_module("torchaudio.compliance.kaldi")
        return True
    except Exception as exc:  # noqa: BLE001 - a mismatched build raises OSError/RuntimeError, not only ImportError
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
    for name in [n for n in sys.modules if n == "torchaudio" or n.startswith("torchaudio.")]:
        del sys.modules[name]  # drop half-imported pieces of a broken install
    modules = [_standin(name) for name in _NAMES]
    for parent, child in itertools.pairwise(modules):
        setattr(parent, child.__name__.rsplit(".", 1)[1], child)
    sys.modules.update({module.__name__: module for module in modules})
    log.info("torchaudio is not importable (%s); using a stand-in for torchaudio.compliance.kaldi "
             "(only Qwen3-TTS's 25 Hz tokenizer calls it; the 12 Hz models never do)", reason)
    return False


def _standin(name: str) -> types.ModuleType:
    module = types.ModuleType(name, "Stand-in for a torchaudio that could not be imported.")
    module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None, is_package=True)
    module.__path__ = []  # a package with no submodules: other imports fail with ModuleNotFoundError
    setattr(module, _MARKER, True)

    def __getattr__(attr: str) -> Any:  # PEP 562: only called for names the module lacks
        if attr.startswith("__"):
            raise AttributeError(attr)  # keep probes like __file__ / __wrapped__ honest

        def missing(*_args: object, **_kwargs: object) -> NoReturn:
            raise TorchaudioMissing(
                f"{name}.{attr}() 호출 실패: torchaudio가 설치되어 있지 않습니다 (torch와 같은 버전의 "
                f"torchaudio가 필요합니다; 25Hz 토크나이저 모델만 씁니다). / "
                f"{name}.{attr}() needs torchaudio, which is not installed (install the torchaudio "
                f"build matching your torch; only the 25 Hz tokenizer models use it).")

        return missing

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    return module
