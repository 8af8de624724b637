"""The avatar the daemon draws itself (`GET /avatar`): image sets (PNGTuber) and VRM models.

`image_set` and `vrm_check` are pure checks of the files; `store` holds the current avatar
(versioned, reloaded when the settings or the files change, uploads saved atomically);
`routes` is its HTTP face. The page lives in overlay/static/avatar*.{html,js}."""

from .image_set import EMOTIONS, SLOTS, AvatarError, ImageSet, load_image_set
from .store import AvatarStatus, AvatarStore, TooBig
from .vrm_check import VrmInfo, check_vrm_bytes, check_vrm_file

__all__ = ["EMOTIONS", "SLOTS", "AvatarError", "AvatarStatus", "AvatarStore", "ImageSet",
           "TooBig", "VrmInfo", "check_vrm_bytes", "check_vrm_file", "load_image_set"]
