"""Whether the character sees the stream (VISION), and through what: OBS or a monitor."""

from __future__ import annotations

from collections.abc import Callable

from ..ai.groq_client import GroqClient
from ..ai.responder import GroqResponder
from ..core.stages import LanguageModel
from ..core.status import State, StatusBoard
from ..settings.model import Settings

LABEL = "화면 보기"
SCENE_TOKENS = 1500  # what one frame's description costs, about (image + note)


def build_vision(settings: Settings, board: StatusBoard, llm: LanguageModel,
                 paused: Callable[[], bool]):  # type: ignore[no-untyped-def]
    """The vision component (None when VISION=off or no key); the responder gets its notes."""
    if settings.vision == "off":
        board.register("vision", LABEL, State.OFF, "VISION=off: 화면을 보지 않습니다",
                       "VISION=obs 또는 screen으로 켤 수 있습니다")
        return None
    key = settings.vision_api_key or settings.groq_api_key
    if key is None:
        board.register("vision", LABEL, State.NOT_CONFIGURED, "비전 모델 키가 없습니다",
                       "VISION_API_KEY 또는 GROQ_API_KEY를 넣으세요")
        return None
    from ..vision.component import Vision
    from ..vision.describer import SceneDescriber
    from ..vision.sources import ObsSource, ScreenSource

    if settings.vision == "obs":
        password = settings.obs_ws_password.get_secret_value() if settings.obs_ws_password else None
        source = ObsSource(settings.obs_ws_url, password, settings.obs_source)
    else:
        _, _, monitor = settings.vision.partition(":")
        source = ScreenSource(int(monitor or 1))
    # On the streamer's own Groq key the vision model shares the plan with the answers: it is
    # counted there and never takes the last of the day the answers need (GROQ_FALLBACK_MODELS).
    shared = (isinstance(llm, GroqResponder) and settings.vision_api_key is None
              and settings.vision_base_url is None)
    client = GroqClient(api_key=key.get_secret_value(),
                        base_url=settings.vision_base_url or settings.groq_base_url,
                        model=settings.vision_model, timeout_s=max(settings.groq_timeout_s, 15.0),
                        max_retries=0,  # a 429 backs vision off; the next frame is newer anyway
                        on_headers=(lambda model, headers: llm.note_background(model, headers))
                        if shared and isinstance(llm, GroqResponder) else None)

    def hold() -> bool:
        return paused() or (shared and isinstance(llm, GroqResponder)
                            and not llm.background_ok(SCENE_TOKENS, settings.vision_model))

    vision = Vision(source, SceneDescriber(client), interval_s=settings.vision_interval_s,
                    paused=hold)
    board.register("vision", LABEL, State.STARTING, f"시작 중: {source.label}")
    if isinstance(llm, GroqResponder):
        llm.scene = vision.context
    return vision
