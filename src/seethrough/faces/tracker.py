"""Follow faces across sampled frames and pick the main subject.

Association is greedy, frame by frame: every (track, detection) pair whose box IoU is
at least ``iou_threshold`` or whose centres are closer than ``max_center_dist`` x the
track's face size x sqrt(frames since the track was last seen) (faces keep moving
while missed), and whose sizes differ by less than ``max_size_ratio``, is a
candidate; candidates are taken best first (higher IoU, then nearer centre). Tracks
survive up to ``max_gap`` frames without a detection, so faces missing from a few
frames keep their id. Detections left over start new tracks.

Main subject rule: the track with the largest *frames present x median box area*,
i.e. the face that is both big and there most of the time; ties go to the older track.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .types import Detection, Track


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class TrackerConfig:
    iou_threshold: float = 0.3
    max_center_dist: float = 1.5  # in units of the track's face size (sqrt of box area)
    max_size_ratio: float = 2.0
    max_gap: int = 8  # frames a track may miss and still be continued


def _match_cost(track: Track, det: Detection, pos: int, cfg: TrackerConfig) -> tuple[float, float] | None:
    last = track.last
    overlap = iou(last.box, det.box)
    size_t, size_d = math.sqrt(max(last.area, 1e-6)), math.sqrt(max(det.area, 1e-6))
    if max(size_t, size_d) / min(size_t, size_d) > cfg.max_size_ratio:
        return None
    (tx, ty), (dx, dy) = last.center, det.center
    dist = math.hypot(tx - dx, ty - dy) / size_t
    elapsed = max(pos - track.positions[-1], 1)
    if overlap >= cfg.iou_threshold or dist <= cfg.max_center_dist * math.sqrt(elapsed):
        return overlap, dist
    return None


def track_faces(detections: Sequence[Sequence[Detection]], config: TrackerConfig | None = None) -> list[Track]:
    """Group per-frame detections into tracks; ``detections[i]`` are frame ``i``'s faces.

    Track ids start at 0 in order of appearance; ``Track.positions`` are frame numbers
    in ``detections``. Each track holds at most one detection per frame.
    """
    cfg = config or TrackerConfig()
    tracks: list[Track] = []
    for pos, dets in enumerate(detections):
        alive = [t for t in tracks if pos - t.positions[-1] <= cfg.max_gap + 1]
        pairs = []
        for ti, t in enumerate(alive):
            for di, d in enumerate(dets):
                cost = _match_cost(t, d, pos, cfg)
                if cost is not None:
                    pairs.append((-cost[0], cost[1], ti, di))
        pairs.sort()
        used_t: set[int] = set()
        used_d: set[int] = set()
        for _, _, ti, di in pairs:
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            alive[ti].positions.append(pos)
            alive[ti].detections.append(dets[di])
        for di, d in enumerate(dets):
            if di not in used_d:
                tracks.append(Track(track_id=len(tracks), positions=[pos], detections=[d]))
    return tracks


def rejoin_tracks(tracks: list[Track], describe, max_distance: float = 0.5,
                  max_distance_interleaved: float = 0.4) -> list[Track]:
    """Join tracks of the same person that never share a frame.

    Two cases: the person left and came back (or the video cut away for longer than
    the tracker's ``max_gap``), so one piece ends before the other starts; or a face
    that flickers in and out of detection while moving fast between sparse samples
    split into pieces that take turns (interleaved in time). ``describe(track) ->
    descriptor`` gives an identity descriptor (see :mod:`seethrough.faces.identity`);
    pairs closer than ``max_distance`` (``max_distance_interleaved`` for interleaved
    pieces, stricter because two people in a shot/reverse-shot dialogue also take
    turns) are joined, closest first, the earlier track keeping its id. Tracks that
    share a frame are different people by construction and are never joined.

    Measured on the 29 real dev clips (8 frames each): descriptors of one person within
    a clip are 0.21 apart at the median, 0.39 at the 95th percentile; different people
    were never closer than 0.51 (median 0.75).
    """
    if len(tracks) < 2:
        return tracks
    tracks = sorted(tracks, key=lambda t: t.positions[0])
    cache: dict[int, object] = {}

    def desc(t: Track):
        if t.track_id not in cache:
            cache[t.track_id] = describe(t)
        return cache[t.track_id]

    while True:
        best = None
        for i, a in enumerate(tracks):
            for b in tracks[i + 1 :]:
                if set(a.positions) & set(b.positions):
                    continue
                first, second = (a, b) if a.positions[0] < b.positions[0] else (b, a)
                interleaved = first.positions[-1] > second.positions[0]
                limit = max_distance_interleaved if interleaved else max_distance
                d = float(np.linalg.norm(np.asarray(desc(a)) - np.asarray(desc(b))))
                if d < limit and (best is None or d < best[0]):
                    best = (d, first, second)
        if best is None:
            return sorted(tracks, key=lambda t: t.track_id)
        _, first, second = best
        merged = sorted(zip(first.positions + second.positions, first.detections + second.detections),
                        key=lambda pd: pd[0])
        first.positions = [p for p, _ in merged]
        first.detections = [d for _, d in merged]
        tracks.remove(second)


def main_track(tracks: Sequence[Track]) -> Track | None:
    """The main subject: the largest frames-present x median-area product."""
    if not tracks:
        return None
    return max(tracks, key=lambda t: (t.weight, -t.track_id))
