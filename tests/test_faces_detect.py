"""Face detection (RetinaFace ONNX) and 68-point landmarks (dlib) on real images."""

from __future__ import annotations

import numpy as np
import pytest

from seethrough.faces import RetinaFaceDetector, landmark_model_path, predict_landmarks
from seethrough.faces.tracker import iou
from seethrough.testing.media import astronaut_rgb, compose_frame

# Where RetinaFace puts the astronaut's face in the 512x512 photo (measured once).
ASTRONAUT_BOX = (178.0, 57.0, 273.0, 177.0)


@pytest.fixture(scope="module")
def detector() -> RetinaFaceDetector:
    return RetinaFaceDetector()


def _expected_box(width: int, height: int, scale: float, cx: float, cy: float) -> tuple[float, ...]:
    """ASTRONAUT_BOX after compose_frame pastes the photo scaled at (cx, cy)."""
    side = round(512 * scale)
    px, py = int(cx * width - side / 2), int(cy * height - side / 2)
    x0, y0, x1, y1 = ASTRONAUT_BOX
    return (px + x0 * scale, py + y0 * scale, px + x1 * scale, py + y1 * scale)


def test_astronaut_one_face_where_expected(detector):
    dets = detector.detect(astronaut_rgb())
    assert len(dets) == 1
    d = dets[0]
    x0, y0, x1, y1 = d.box
    assert 165 <= x0 <= 190 and 260 <= x1 <= 285
    assert 45 <= y0 <= 70 and 165 <= y1 <= 190
    assert d.score > 0.95
    assert d.kps5.shape == (5, 2)
    assert np.all((d.kps5 >= [x0, y0]) & (d.kps5 <= [x1, y1]))
    right_eye, left_eye, nose, mouth_r, mouth_l = d.kps5
    assert right_eye[0] < left_eye[0]  # the subject's right eye is on the image's left
    assert max(right_eye[1], left_eye[1]) < nose[1] < min(mouth_r[1], mouth_l[1])


@pytest.mark.parametrize(
    "size,scale,cx,cy",
    [
        ((640, 480), 0.5, 0.3, 0.4),
        ((640, 480), 0.8, 0.65, 0.55),
        ((320, 240), 0.4, 0.5, 0.5),
        ((1280, 720), 1.2, 0.4, 0.5),  # downscaled to 640 for the network and mapped back
    ],
)
def test_box_follows_scale_and_position(detector, size, scale, cx, cy):
    frame = compose_frame(*size, scale=scale, cx=cx, cy=cy)
    dets = detector.detect(frame)
    assert len(dets) == 1
    assert iou(dets[0].box, _expected_box(*size, scale, cx, cy)) > 0.8


@pytest.mark.parametrize("name", ["background", "coffee", "chelsea", "flat"])
def test_no_face_images(detector, name):
    from skimage import data

    image = {
        "background": lambda: compose_frame(640, 480, faces=0),
        "coffee": data.coffee,
        "chelsea": data.chelsea,  # a cat: a face, but not a human one
        "flat": lambda: np.full((240, 320, 3), 128, np.uint8),
    }[name]()
    assert detector.detect(image) == []


def test_score_threshold_is_applied():
    frame = compose_frame(640, 480, scale=0.2)  # a ~15 px face, detected with a modest score
    low = RetinaFaceDetector(score_threshold=0.5).detect(frame)
    high = RetinaFaceDetector(score_threshold=0.99).detect(frame)
    assert len(low) == 1 and low[0].score < 0.99
    assert high == []


def test_grayscale_input_and_bad_input(detector):
    gray = astronaut_rgb().mean(axis=2).astype(np.uint8)
    assert len(detector.detect(gray)) == 1
    with pytest.raises(ValueError):
        detector.detect(np.zeros((10, 10, 4), np.uint8))
    with pytest.raises(ValueError):
        detector.detect(np.zeros((64, 64, 3), np.float32))


def test_landmarks_on_astronaut(detector):
    assert landmark_model_path().is_file()
    img = astronaut_rgb()
    det = detector.detect(img)[0]
    lm = predict_landmarks(img, det)
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    x0, y0, x1, y1 = det.box
    pad = 0.1 * (x1 - x0)
    assert np.all((lm >= [x0 - pad, y0 - pad]) & (lm <= [x1 + pad, y1 + pad]))
    right_eye, left_eye = lm[36:42].mean(0), lm[42:48].mean(0)
    mouth, nose_tip, chin = lm[48:68].mean(0), lm[30], lm[8]
    assert right_eye[0] < nose_tip[0] < left_eye[0]
    assert max(right_eye[1], left_eye[1]) < nose_tip[1] < mouth[1] < chin[1]
    # The two models agree on where the eyes are (within a fifth of the eye distance).
    eye_dist = np.linalg.norm(left_eye - right_eye)
    assert np.linalg.norm(right_eye - det.kps5[0]) < 0.2 * eye_dist
    assert np.linalg.norm(left_eye - det.kps5[1]) < 0.2 * eye_dist


def test_landmarks_follow_a_moved_face(detector):
    a = compose_frame(640, 480, scale=0.6, cx=0.3, cy=0.45)
    b = compose_frame(640, 480, scale=0.6, cx=0.6, cy=0.55)
    la = predict_landmarks(a, detector.detect(a)[0])
    lb = predict_landmarks(b, detector.detect(b)[0])
    ea, eb = _expected_box(640, 480, 0.6, 0.3, 0.45), _expected_box(640, 480, 0.6, 0.6, 0.55)
    shift = np.array([eb[0] - ea[0], eb[1] - ea[1]])
    assert np.abs(np.median(lb - la, axis=0) - shift).max() <= 2.0
