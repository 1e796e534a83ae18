"""68-point facial landmarks with dlib's shape predictor.

The model file ``shape_predictor_68_face_landmarks.dat`` ships with the
``face_recognition_models`` package; we locate it with ``importlib.util.find_spec``
instead of importing that package (its ``__init__`` needs ``pkg_resources``).

Licence note: the 68-point model was trained on the iBUG 300-W data set, whose
licence excludes commercial use. It is for research use only; a commercial
deployment must swap in a landmark model with a suitable licence.

Points follow the iBUG 300-W / Multi-PIE 68-point scheme: 0-16 jaw (from the image's
left), 17-21 and 22-26 brows, 27-35 nose, 36-41 and 42-47 eyes, 48-67 mouth.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..log import get_logger
from .types import Detection

log = get_logger(__name__)

MODEL_FILE = "shape_predictor_68_face_landmarks.dat"

# dlib's predictor was trained with boxes from dlib's HOG detector, which sit lower
# and tighter than RetinaFace boxes. Measured on the astronaut at many scales: a
# square of side 1.0 x box width centred at (0.5 w, 0.58 h) reproduces the landmarks
# of a HOG-initialised fit to <1% of the inter-ocular distance.
_RECT_CENTER = (0.5, 0.58)
_RECT_SIDE = 1.0

_lock = threading.Lock()
_predictor = None


def landmark_model_path() -> Path:
    """Path of the 68-point model inside the installed ``face_recognition_models``."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "The landmark model needs the 'face_recognition_models' package "
            "(pip install face-recognition-models); it ships shape_predictor_68_face_landmarks.dat."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / MODEL_FILE
    if not path.is_file():
        raise ModelError(f"The landmark model file is missing: {path}. Reinstall face-recognition-models.")
    return path


def get_predictor():
    """The process-wide dlib shape predictor, loaded on first use (about 100 MB, ~1 s)."""
    global _predictor
    if _predictor is None:
        with _lock:
            if _predictor is None:
                import dlib

                path = landmark_model_path()
                log.debug("loading landmark model %s", path)
                try:
                    _predictor = dlib.shape_predictor(str(path))
                except RuntimeError as exc:
                    raise ModelError(f"Cannot load the landmark model {path}: {exc}") from exc
    return _predictor


def dlib_rect_for(box: tuple[float, float, float, float]):
    """The dlib rectangle the predictor expects for a RetinaFace ``box``."""
    import dlib

    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx, cy = x0 + _RECT_CENTER[0] * w, y0 + _RECT_CENTER[1] * h
    half = _RECT_SIDE * w / 2
    return dlib.rectangle(int(round(cx - half)), int(round(cy - half)), int(round(cx + half)), int(round(cy + half)))


def predict_landmarks(image: np.ndarray, face: Detection | tuple[float, float, float, float]) -> np.ndarray:
    """68 landmarks (68, 2) float32 in ``image`` coordinates for one detected face.

    ``image`` is RGB (or grayscale) uint8; ``face`` is a :class:`Detection` or a box.
    """
    box = face.box if isinstance(face, Detection) else face
    if image.ndim == 3 and not image.flags.c_contiguous:
        image = np.ascontiguousarray(image)
    shape = get_predictor()(image, dlib_rect_for(box))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
