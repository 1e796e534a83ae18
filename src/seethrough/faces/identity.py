"""Who a face is: dlib's 128-d face descriptor (ResNet, ships in ``face_recognition_models``).

Used to rejoin the pieces of one person's track after they leave the frame or a
cutaway: two descriptors of the same person are usually closer than 0.6 (dlib's
threshold on Labeled Faces in the Wild); different people usually farther.
"""

from __future__ import annotations

import threading

import numpy as np

from ..errors import ModelError
from ..log import get_logger
from .landmarks import dlib_rect_for, get_predictor, landmark_model_path

log = get_logger(__name__)

MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
_lock = threading.Lock()
_model = None


def _recognizer():
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                import dlib

                path = landmark_model_path().with_name(MODEL_FILE)
                if not path.is_file():
                    raise ModelError(f"The face descriptor model is missing: {path}. Reinstall face-recognition-models.")
                log.debug("loading face descriptor model %s", path)
                _model = dlib.face_recognition_model_v1(str(path))
    return _model


def face_descriptor(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """(128,) float32 identity descriptor of the face in ``box`` of an RGB uint8 ``image``."""
    image = np.ascontiguousarray(image)
    shape = get_predictor()(image, dlib_rect_for(box))
    return np.asarray(_recognizer().compute_face_descriptor(image, shape), dtype=np.float32)
