"""Shared fixtures: generated media and a tiny (untrained) detector checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _user_cache(tmp_path_factory):
    """Exported ONNX graphs go to a temporary folder, not the user's ~/.cache (servers inherit it)."""
    import os

    os.environ["SEETHROUGH_CACHE"] = str(tmp_path_factory.mktemp("user-cache"))


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def face_clip(media_dir) -> Path:
    """48 frames, 640x480 H.264, the astronaut moving; frames 20-23 without a face."""
    from seethrough.testing import make_face_video

    return make_face_video(media_dir / "clip.mp4", n_frames=48, no_face_frames=range(20, 24))


@pytest.fixture(scope="session")
def face_image(media_dir) -> Path:
    from seethrough.testing import make_face_image

    return make_face_image(media_dir / "face.jpg")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny_cnn detector with random weights: exercises every code path in milliseconds."""
    import torch

    from seethrough.models import build_detector, save_checkpoint

    torch.manual_seed(0)
    model = build_detector(pretrained=False, backbone="tiny_cnn", temporal="lstm", num_methods=3, hidden_size=16)
    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    return save_checkpoint(
        path,
        model,
        labels={"binary": ["real", "fake"], "methods": ["Deepfakes", "FaceSwap", "Face2Face"]},
        config={"name": "tiny-test", "data": {"crop_margin": 1.15}},
        calibration={"temperature": 1.0, "thresholds": {"real_below": 0.4, "fake_above": 0.6}},
    )


@pytest.fixture(scope="session")
def tiny_predictor(tiny_checkpoint):
    from seethrough.inference import Predictor

    return Predictor(tiny_checkpoint)


CROSS_SOURCE_COLUMNS = ["path", "label", "kind", "family", "method", "source", "group", "identity", "pair_id",
                        "grid", "notes"]


@pytest.fixture(scope="session")
def cross_source(tmp_path_factory) -> Path:
    """A cross_source-style list: a real photo source per part, a fake clip, a grid composite, an animation."""
    import csv

    from seethrough.testing import make_face_image, make_face_video

    root = tmp_path_factory.mktemp("data") / "cross_source"
    (root / "images").mkdir(parents=True)
    (root / "videos").mkdir()
    rows = []
    for g in ("train_a", "train_b", "calib_a", "test_a"):
        for i in range(2):
            p = make_face_image(root / "images" / f"{g}_{i}.jpg", size=(320, 240), scale=0.5)
            rows.append({"path": f"images/{p.name}", "label": "real", "kind": "image", "group": g, "grid": "0"})
    clip = make_face_video(root / "videos" / "swap.mp4", n_frames=8, size=(320, 240), scale=0.5)
    rows.append({"path": f"videos/{clip.name}", "label": "fake", "kind": "video", "family": "face_swap",
                 "method": "SimSwap", "group": "train_a", "grid": "0"})
    grid = make_face_image(root / "images" / "grid.jpg", size=(480, 240), scale=0.4, faces=2)
    rows.append({"path": f"images/{grid.name}", "label": "fake", "kind": "image", "family": "editing",
                 "method": "StarGAN", "group": "train_b", "grid": "1"})
    rows.append({"path": f"videos/{clip.name}", "label": "fake", "kind": "animation", "family": "talking_head",
                 "method": "SadTalker", "group": "test_a", "grid": "0"})
    with open(root / "labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CROSS_SOURCE_COLUMNS)
        w.writeheader()
        w.writerows({k: r.get(k, "") for k in CROSS_SOURCE_COLUMNS} for r in rows)
    return root
