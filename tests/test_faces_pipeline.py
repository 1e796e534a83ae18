"""FacePipeline end to end on generated frames and videos, plus the tracker's rules."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from seethrough.errors import FaceTooSmallError, NoFaceError
from seethrough.faces import Detection, FacePipeline, RetinaFaceDetector, TrackerConfig, main_track, track_faces
from seethrough.media.types import Frame
from seethrough.testing.media import compose_frame, make_face_video


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline(RetinaFaceDetector(), min_face=40, crop_size=224, margin=1.3)


def _frames(images, fps: float = 24.0) -> list[Frame]:
    return [Frame(index=i, time_s=i / fps, image=img) for i, img in enumerate(images)]


def _decode_all(path) -> list[Frame]:
    out = []
    with av.open(str(path)) as container:
        for i, f in enumerate(container.decode(video=0)):
            out.append(Frame(index=i, time_s=float(f.time or 0.0), image=f.to_ndarray(format="rgb24")))
    return out


def test_single_face_frames_give_crops(pipeline):
    frames = _frames([compose_frame(640, 480, scale=0.7, cx=0.4 + 0.05 * k) for k in range(4)])
    r = pipeline.process(frames)
    assert r.ok and r.status == "ok"
    assert [f.status for f in r.frames] == ["ok"] * 4
    assert len(r.tracks) == 1 and r.main_track_id == r.tracks[0].track_id
    assert [c.frame_index for c in r.crops] == [0, 1, 2, 3]
    for c, f in zip(r.crops, frames):
        assert c.crop.shape == (224, 224, 3) and c.crop.dtype == np.uint8
        assert c.landmarks.shape == (68, 2) and c.crop_landmarks.shape == (68, 2)
        assert np.all((c.crop_landmarks >= 0) & (c.crop_landmarks < 224))
        x0, y0, x1, y1 = c.box
        assert x0 < c.landmarks[30, 0] < x1 and y0 < c.landmarks[30, 1] < y1
        assert c.time_s == f.time_s
    # The boxes move right with the face.
    xs = [c.box[0] for c in r.crops]
    assert xs == sorted(xs) and xs[-1] - xs[0] > 0.1 * 640
    r.raise_for_status()  # ok: no exception


def test_summary_is_json_without_pixels(pipeline):
    r = pipeline.process(_frames([compose_frame(640, 480, scale=0.7)] * 2))
    s = r.to_summary()
    text = json.dumps(s)
    assert s["status"] == "ok" and s["n_crops"] == 2 and s["frame_status_counts"]["ok"] == 2
    assert s["settings"]["crop_size"] == 224 and s["settings"]["min_face"] == 40
    assert "detect_per_frame" in s["timings_ms"]
    assert len(text) < 20_000  # boxes and matrices only, no image data


def test_no_face_is_a_status_not_an_exception(pipeline):
    r = pipeline.process(_frames([compose_frame(640, 480, faces=0, t=k / 3) for k in range(3)]))
    assert r.status == "no_face" and not r.ok
    assert [f.status for f in r.frames] == ["no_face"] * 3
    assert r.crops == [] and r.tracks == [] and r.main_track_id is None
    assert "No face" in r.message
    with pytest.raises(NoFaceError) as err:
        r.raise_for_status()
    assert not isinstance(err.value, FaceTooSmallError)
    assert pipeline.process([]).status == "no_face"


def test_tiny_face_is_too_small(pipeline):
    r = pipeline.process(_frames([compose_frame(640, 480, scale=0.3)] * 2))  # a ~28 px face
    assert r.status == "face_too_small"
    assert [f.status for f in r.frames] == ["face_too_small"] * 2
    assert all(len(f.detections) == 1 and f.too_small == 1 for f in r.frames)
    assert r.crops == []
    assert "40 px" in r.message
    with pytest.raises(FaceTooSmallError):
        r.raise_for_status()
    # The same frames pass with a lower minimum.
    lenient = FacePipeline(pipeline.detector, min_face=20, landmarks=False)
    assert lenient.process(_frames([compose_frame(640, 480, scale=0.3)])).status == "ok"


def test_two_faces_two_tracks_main_is_larger(pipeline):
    frames = _frames([compose_frame(960, 540, scale=0.8, cx=0.3 + 0.02 * k, faces=2) for k in range(3)])
    r = pipeline.process(frames)
    assert r.status == "ok"
    assert all(len(f.detections) == 2 for f in r.frames)
    assert len(r.tracks) == 2
    assert all(len(t) == 3 for t in r.tracks)
    main = r.main_track
    other = next(t for t in r.tracks if t.track_id != r.main_track_id)
    assert main.median_area > other.median_area
    # compose_frame puts the larger face on the left; the crops follow the main face.
    assert all(c.box[0] < 0.5 * 960 for c in r.crops) and len(r.crops) == 3


def test_video_with_missing_faces_keeps_one_track(pipeline, tmp_path):
    blank = {4, 5, 6, 11}
    path = make_face_video(tmp_path / "clip.mp4", n_frames=16, size=(480, 360), scale=0.6, no_face_frames=blank)
    frames = _decode_all(path)
    assert len(frames) == 16
    r = pipeline.process(frames)
    assert r.status == "ok"
    assert {f.frame_index for f in r.frames if f.status == "no_face"} == blank
    assert all(f.status == "ok" for f in r.frames if f.frame_index not in blank)
    assert len(r.tracks) == 1
    assert [c.frame_index for c in r.crops] == [i for i in range(16) if i not in blank]
    assert all(c.crop.shape == (224, 224, 3) for c in r.crops)


def test_without_landmarks_crops_come_from_boxes(pipeline):
    fast = FacePipeline(pipeline.detector, landmarks=False, crop_size=112, margin=1.0)
    r = fast.process(_frames([compose_frame(640, 480, scale=0.7)]))
    assert r.ok and len(r.crops) == 1
    c = r.crops[0]
    assert c.landmarks is None and c.crop_landmarks is None
    assert c.crop.shape == (112, 112, 3)


# --- tracker rules on hand-made detections -------------------------------------------


def _det(x: float, y: float, side: float, score: float = 0.99) -> Detection:
    return Detection(box=(x, y, x + side, y + side), score=score, kps5=np.zeros((5, 2), np.float32))


def test_tracker_bridges_gaps_and_separates_faces():
    frames = [
        [_det(100, 100, 80), _det(400, 120, 50)],
        [_det(110, 102, 80)],  # the small face is missing here
        [],  # nobody
        [_det(125, 104, 80), _det(405, 118, 50)],
    ]
    tracks = track_faces(frames)
    assert len(tracks) == 2
    big, small = tracks
    assert big.positions == [0, 1, 3] and small.positions == [0, 3]
    assert main_track(tracks) is big


def test_tracker_follows_fast_motion_between_sparse_samples():
    # A face moving about one face width per sampled frame is still one face.
    frames = [[_det(100 + 55 * k, 100 + 10 * k, 60)] for k in range(6)]
    frames[3] = []
    tracks = track_faces(frames)
    assert len(tracks) == 1 and tracks[0].positions == [0, 1, 2, 4, 5]


def test_tracker_limits():
    # A face that jumps across the frame is a new track; so is one after a long gap.
    jump = track_faces([[_det(100, 100, 60)], [_det(500, 100, 60)]])
    assert len(jump) == 2
    gap = track_faces([[_det(100, 100, 60)]] + [[]] * 5 + [[_det(100, 100, 60)]], TrackerConfig(max_gap=3))
    assert len(gap) == 2
    # Size change beyond the ratio: different faces at the same place.
    grow = track_faces([[_det(100, 100, 40)], [_det(90, 90, 120)]])
    assert len(grow) == 2


def test_main_track_prefers_persistent_over_briefly_bigger():
    frames = [[_det(100, 100, 60)] for _ in range(6)]
    frames[2] = frames[2] + [_det(400, 100, 90)]  # a bigger face in one frame only
    tracks = track_faces(frames)
    assert len(tracks) == 2
    assert main_track(tracks).positions == list(range(6))
    assert main_track([]) is None


def test_rejoin_joins_the_same_person_only_when_they_never_share_a_frame():
    from seethrough.faces.tracker import rejoin_tracks

    frames = [[_det(100, 100, 60)], [_det(105, 100, 60)], [], [], [], [_det(400, 100, 60)], [_det(405, 100, 60)]]
    ids = {0: "anna", 1: "anna"}  # the same person before and after she left the frame (track id -> who)
    pieces = track_faces(frames, TrackerConfig(max_gap=2))
    assert [t.positions for t in pieces] == [[0, 1], [5, 6]]
    person = {"anna": np.zeros(128), "ben": np.ones(128)}
    joined = rejoin_tracks(pieces, lambda t: person[ids[t.track_id]])
    assert [t.positions for t in joined] == [[0, 1, 5, 6]] and joined[0].track_id == 0
    # A different person after the cut stays a different track.
    ids[1] = "ben"
    apart = rejoin_tracks(track_faces(frames, TrackerConfig(max_gap=2)), lambda t: person[ids[t.track_id]])
    assert [t.positions for t in apart] == [[0, 1], [5, 6]]
    # Faces that share a frame are never one person, however alike.
    both = track_faces([[_det(100, 100, 60), _det(400, 100, 60)]] * 3)
    assert len(rejoin_tracks(both, lambda t: person["anna"])) == 2


def test_rejoin_joins_interleaved_pieces_of_one_fast_flickering_face():
    from seethrough.faces.tracker import rejoin_tracks

    # A steady face, and a second one that darts between two places between sparse
    # samples: the tracker splits it into two pieces that take turns.
    steady = _det(100, 300, 60)
    darting = [_det(400, 100, 60), _det(700, 100, 60), _det(420, 100, 60), _det(720, 100, 60), _det(440, 100, 60)]
    frames = [[steady, d] for d in darting]
    pieces = track_faces(frames)
    assert sorted(t.positions for t in pieces) == [[0, 1, 2, 3, 4], [0, 2, 4], [1, 3]]
    who = {0: "anna", 1: "ben", 2: "ben"}  # track id -> person
    person = {"anna": np.zeros(128), "ben": np.ones(128)}
    joined = rejoin_tracks(pieces, lambda t: person[who[t.track_id]])
    assert [t.positions for t in joined] == [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]
    ben = joined[1]
    assert ben.track_id == 1 and [d.box[0] for d in ben.detections] == [d.box[0] for d in darting]
    # Two people taking turns (a dialogue cut back and forth) stay two tracks, and an
    # interleaved pair needs a closer match than pieces that follow one another.
    who[2] = "carl"
    person["carl"] = np.ones(128) + 0.45 / np.sqrt(128)  # 0.45 from ben: same person for a later piece only
    assert len(rejoin_tracks(track_faces(frames), lambda t: person[who[t.track_id]])) == 3
    later = track_faces([[_det(100, 100, 60)], [_det(105, 100, 60)], [], [], [], [_det(400, 100, 60)]],
                        TrackerConfig(max_gap=2))
    assert len(rejoin_tracks(later, lambda t: person[("ben", "carl")[t.track_id]])) == 1


def test_person_who_leaves_and_comes_back_is_one_track(tmp_path):
    # 12 sampled frames without a face: longer than the tracker bridges (max_gap 8).
    path = make_face_video(tmp_path / "away.mp4", n_frames=24, size=(480, 360), scale=0.6, no_face_frames=range(6, 18))
    frames = _decode_all(path)
    split = FacePipeline(rejoin=False).process(frames)
    assert len(split.tracks) == 2 and len(split.crops) == 6
    r = FacePipeline().process(frames)
    assert len(r.tracks) == 1 and len(r.crops) == 12 and "rejoin" in r.timings_ms
