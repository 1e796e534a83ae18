"""A tiny labelled training set on disk, generated (for tests, notebooks and demos)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .media import astronaut_rgb, make_face_video


def face_crops(n: int, size: int, seed: int) -> list[np.ndarray]:
    """Tight astronaut face crops (RGB) with jitter in framing and colour."""
    import cv2

    rng = np.random.default_rng(seed)
    img = astronaut_rgb()
    out = []
    for _ in range(n):
        s = int(rng.integers(110, 140))
        x0, y0 = 165 + int(rng.integers(-8, 8)), 55 + int(rng.integers(-8, 8))
        crop = cv2.resize(img[y0 : y0 + s, x0 : x0 + s], (size, size), interpolation=cv2.INTER_AREA)
        out.append(np.clip(crop.astype(np.float32) * rng.uniform(0.85, 1.15, 3), 0, 255).astype(np.uint8))
    return out


def make_crop_dataset(root: str | Path, *, n: int = 16, size: int = 96, groups: int = 8, videos: int = 2,
                      video_frames: int = 10) -> Path:
    """Write ``n`` real crops and ``n`` "fakes" (inner face recoloured) in ``groups`` groups
    (``crops/`` + ``crops.csv``: path,label,group) and ``videos`` short real clips
    (``videos/`` + ``videos.csv``: path,label,identity,method). Returns ``root``."""
    import cv2

    root = Path(root)
    (root / "crops").mkdir(parents=True, exist_ok=True)
    y0, y1, x0, x1 = (round(size * f) for f in (0.31, 0.73, 0.26, 0.78))
    rows = []
    for i, crop in enumerate(face_crops(n, size, seed=0)):
        cv2.imwrite(str(root / "crops" / f"r{i}.jpg"), crop[..., ::-1])
        rows.append({"path": f"crops/r{i}.jpg", "label": "real", "group": f"g{i % groups}"})
        fake = crop.copy()  # a crude "manipulation": the inner face recoloured
        fake[y0:y1, x0:x1] = np.clip(fake[y0:y1, x0:x1].astype(int) + [40, -20, -20], 0, 255)
        cv2.imwrite(str(root / "crops" / f"f{i}.jpg"), fake[..., ::-1])
        rows.append({"path": f"crops/f{i}.jpg", "label": "fake", "group": f"g{i % groups}"})
    with open(root / "crops.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "label", "group"])
        w.writeheader()
        w.writerows(rows)
    (root / "videos").mkdir(exist_ok=True)
    lines = ["path,label,identity,method"]
    for i in range(videos):
        make_face_video(root / "videos" / f"v{i}.mp4", n_frames=video_frames, size=(320, 240), scale=0.5)
        lines.append(f"videos/v{i}.mp4,real,{chr(ord('a') + i)},original")
    (root / "videos.csv").write_text("\n".join(lines) + "\n")
    return root


def write_tiny_config(root: str | Path, *, name: str = "tiny", image_size: int = 96, hidden: int = 16,
                      threads: int | None = None, frames: dict | None = None, temporal: bool = True) -> Path:
    """Write ``root/tiny.yaml``: a tiny_cnn training config over :func:`make_crop_dataset`'s files
    (output in ``root/run``, cache in ``root/cache``); ``frames`` overrides frame-stage options,
    ``temporal=False`` turns the temporal stage off. Returns the file."""
    import yaml

    root = Path(root)
    cfg: dict = {
        "name": name,
        "output_dir": str(root / "run"),
        "workers": 0,
        **({"threads": threads} if threads is not None else {}),
        "methods": ["Deepfakes", "FaceSwap", "Face2Face"],
        "data": {"image_size": image_size, "val_frac": 0.25, "cache_dir": str(root / "cache"),
                 "sources": [{"kind": "crops", "csv": "crops.csv"}]},
        "model": {"backbone": "tiny_cnn", "pretrained": False, "hidden": hidden},
        "frames": {"epochs": 1, "batch_size": 8, "eval_every": 2, "checkpoint_every": 10, "warmup_steps": 1,
                   "lr": 0.003, **(frames or {})},
        "temporal": ({"epochs": 2, "frames": 6, "sources": [{"kind": "videos", "csv": "videos.csv", "frames": 6}]}
                     if temporal else {"enabled": False}),
    }
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path
