"""Dataset layouts, metadata building, CSV I/O and frame counting on tiny fake trees."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from seethrough.datasets import (
    COLUMNS,
    MetaRow,
    build_metadata,
    detect_layout,
    index_dataset,
    layout_names,
    leaking_groups,
    read_metadata_csv,
    summarize_metadata,
    write_metadata_csv,
)
from seethrough.errors import DatasetLayoutError


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture):
    """caplog that also sees the ``seethrough`` logger once the CLI stops its propagation."""
    logger = logging.getLogger("seethrough")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="seethrough")
    yield caplog
    logger.removeHandler(caplog.handler)


def touch(root: Path, *rels: str) -> None:
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")


def by_path(rows: list[MetaRow]) -> dict[str, MetaRow]:
    return {r.path: r for r in rows}


# ------------------------------------------------------------------ tree builders

FF_YT = ("000", "003", "001", "002", "004", "005")


def make_ffpp(root: Path, official: bool = False) -> Path:
    touch(root, *(f"original_sequences/youtube/c23/videos/{i}.mp4" for i in FF_YT))
    touch(root, "original_sequences/youtube/raw/videos/000.mp4")
    touch(
        root,
        "manipulated_sequences/Deepfakes/c23/videos/000_003.mp4",
        "manipulated_sequences/Deepfakes/c23/videos/003_000.mp4",
        "manipulated_sequences/Deepfakes/c23/videos/001_002.mp4",
        "manipulated_sequences/Face2Face/c40/videos/002_001.mp4",
        "manipulated_sequences/FaceShifter/c23/videos/004_005.mp4",
        "manipulated_sequences/NeuralTextures/c23/videos/005_004.mp4",
        "manipulated_sequences/Deepfakes/masks/videos/000_003.mp4",  # masks are not media rows
        "original_sequences/actors/c23/videos/01__kitchen_pan.mp4",
        "original_sequences/actors/c23/videos/02__talking_against_wall.mp4",
        "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__meeting_serious__YVGY8LOK.mp4",
        "manipulated_sequences/DeepFakeDetection/c23/videos/02_01__kitchen_pan__3J3BHSHI.mp4",
    )
    if official:
        (root / "splits").mkdir()
        for name, pairs in {"train": [["000", "003"]], "val": [["001", "002"]], "test": [["004", "005"]]}.items():
            (root / "splits" / f"{name}.json").write_text(json.dumps(pairs))
    return root


def make_celebdf(root: Path, test_list: bool = True) -> Path:
    touch(
        root,
        "Celeb-real/id0_0000.mp4",
        "Celeb-real/id0_0001.mp4",
        "Celeb-real/id1_0000.mp4",
        "Celeb-real/id2_0000.mp4",
        "Celeb-synthesis/id0_id1_0000.mp4",
        "Celeb-synthesis/id1_id0_0000.mp4",
        "Celeb-synthesis/id2_id0_0000.mp4",
        "YouTube-real/00170.mp4",
        "YouTube-real/00171.mp4",
    )
    if test_list:
        (root / "List_of_testing_videos.txt").write_text(
            "1 YouTube-real/00170.mp4\n0 Celeb-synthesis/id1_id0_0000.mp4\n1 Celeb-real/id2_0000.mp4\n"
            "0 Celeb-synthesis/id9_id8_0000.mp4\n"  # listed but not downloaded
        )
    return root


def make_dfdc(root: Path) -> Path:
    part0 = {
        "aaa.mp4": {"label": "REAL", "split": "train", "original": None},
        "bbb.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},
        "ccc.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},
        "gone.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},  # missing on disk
    }
    part1 = {
        "ddd.mp4": {"label": "REAL", "split": "test", "original": None},
        "eee.mp4": {"label": "FAKE", "split": "test", "original": "ddd.mp4"},
        "fff.mp4": {"label": "REAL", "split": "train"},
    }
    for part, meta in (("dfdc_train_part_0", part0), ("dfdc_train_part_1", part1)):
        (root / part).mkdir(parents=True)
        (root / part / "metadata.json").write_text(json.dumps(meta))
        touch(root, *(f"{part}/{name}" for name in meta if name != "gone.mp4"))
    touch(root, "dfdc_train_part_1/unlisted.mp4")
    return root


def make_deeperforensics(root: Path, lists: bool = True) -> Path:
    touch(
        root,
        "manipulated_videos/end_to_end/000_M101.mp4",
        "manipulated_videos/end_to_end/001_W102.mp4",
        "manipulated_videos/end_to_end/002_M101.mp4",
        "manipulated_videos/reenact_postprocess/000_M101.mp4",
        "source_videos/M101/light_uniform/happy/camera_front.mp4",
        "source_videos/M101/light_uniform/sad/camera_front.mp4",
        "source_videos/W102/light_left/neutral/camera_down.mp4",
    )
    if lists:
        touch(root, "lists/splits/train.txt")
        (root / "lists/splits/train.txt").write_text("002_M101.mp4\n")
        (root / "lists/splits/test.txt").write_text("000_M101.mp4\n001_W102.mp4\n")
    return root


def make_folders(root: Path) -> Path:
    touch(
        root,
        "real/a.mp4",
        "real/vid1/0001.png",
        "real/vid1/0002.png",
        "real/.hidden.mp4",
        "real/notes.txt",
        "fake/x.jpg",
        "fake/Deepfakes/b.mp4",
        "fake/Deepfakes/c/0001.png",
        "fake/Deepfakes/c/0002.png",
        "fake/Face2Face/d.webm",
    )
    return root


BUILDERS = {
    "ffpp": make_ffpp,
    "celebdf": make_celebdf,
    "dfdc": make_dfdc,
    "deeperforensics": make_deeperforensics,
    "folders": make_folders,
}


# ------------------------------------------------------------------------- FF++


def test_ffpp_rows(tmp_path: Path) -> None:
    _, rows = index_dataset(make_ffpp(tmp_path / "ff"), "ffpp")
    rows = by_path(rows)
    assert "manipulated_sequences/Deepfakes/masks/videos/000_003.mp4" not in rows
    assert len(rows) == 17

    real = rows["original_sequences/youtube/c23/videos/000.mp4"]
    assert (real.label, real.method, real.dataset, real.compression, real.source) == ("real", "original", "ffpp", "c23", "000")
    assert rows["original_sequences/youtube/raw/videos/000.mp4"].compression == "c0"

    fake = rows["manipulated_sequences/Face2Face/c40/videos/002_001.mp4"]
    assert (fake.label, fake.method, fake.compression, fake.source) == ("fake", "Face2Face", "c40", "002")
    assert rows["manipulated_sequences/FaceShifter/c23/videos/004_005.mp4"].method == "FaceShifter"

    # Pair graph: 000, 003, 000_003 and 003_000 form one group and nothing else joins it.
    group = real.group
    members = {p for p, r in rows.items() if r.group == group}
    assert members == {
        "original_sequences/youtube/c23/videos/000.mp4",
        "original_sequences/youtube/raw/videos/000.mp4",
        "original_sequences/youtube/c23/videos/003.mp4",
        "manipulated_sequences/Deepfakes/c23/videos/000_003.mp4",
        "manipulated_sequences/Deepfakes/c23/videos/003_000.mp4",
    }
    assert rows["original_sequences/youtube/c23/videos/001.mp4"].group == rows[
        "manipulated_sequences/Face2Face/c40/videos/002_001.mp4"
    ].group != group

    dfd = rows["manipulated_sequences/DeepFakeDetection/c23/videos/01_02__meeting_serious__YVGY8LOK.mp4"]
    actor = rows["original_sequences/actors/c23/videos/01__kitchen_pan.mp4"]
    assert (dfd.method, dfd.source, actor.method, actor.source) == (
        "DeepFakeDetection",
        "01__meeting_serious",
        "original",
        "01__kitchen_pan",
    )
    assert dfd.group == actor.group != rows["original_sequences/actors/c23/videos/02__talking_against_wall.mp4"].group
    assert all(not r.split for r in rows.values())  # no official split files here


def test_ffpp_official_split_json_wins(tmp_path: Path) -> None:
    rows = by_path(build_metadata(make_ffpp(tmp_path / "ff", official=True), "ffpp", count_frames=False, val_frac=0.5))
    expected = {"000": "train", "003": "train", "001": "val", "002": "val", "004": "test", "005": "test"}
    for vid, split in expected.items():
        assert rows[f"original_sequences/youtube/c23/videos/{vid}.mp4"].split == split
    assert rows["manipulated_sequences/Deepfakes/c23/videos/003_000.mp4"].split == "train"
    assert rows["manipulated_sequences/Face2Face/c40/videos/002_001.mp4"].split == "val"
    assert rows["manipulated_sequences/NeuralTextures/c23/videos/005_004.mp4"].split == "test"
    # Actors are not in the official pairs: they are split by actor, never into test.
    dfd_splits = {r.split for p, r in rows.items() if "actors" in p or "DeepFakeDetection" in p}
    assert dfd_splits <= {"train", "val"}
    assert leaking_groups(rows.values()) == set()


def test_ffpp_split_file_at_root_and_bad_split_file(tmp_path: Path) -> None:
    root = make_ffpp(tmp_path / "ff")
    (root / "test.json").write_text(json.dumps([["000", "003"]]))
    rows = by_path(build_metadata(root, "ffpp", count_frames=False))
    assert rows["manipulated_sequences/Deepfakes/c23/videos/000_003.mp4"].split == "test"
    assert rows["original_sequences/youtube/c23/videos/001.mp4"].split in ("train", "val")

    (root / "test.json").write_text('{"not": "pairs"}')
    with pytest.raises(DatasetLayoutError, match="test.json"):
        build_metadata(root, "ffpp", count_frames=False)


# --------------------------------------------------------------------- Celeb-DF


def test_celebdf_rows_and_test_list(tmp_path: Path, logs: pytest.LogCaptureFixture) -> None:
    rows = by_path(build_metadata(make_celebdf(tmp_path / "cdf"), "celebdf", count_frames=False))
    assert "1 videos of List_of_testing_videos.txt are missing" in logs.text  # the listed-but-absent video is reported
    assert len(rows) == 9
    assert {p for p, r in rows.items() if r.split == "test"} == {
        "YouTube-real/00170.mp4",
        "Celeb-synthesis/id1_id0_0000.mp4",
        "Celeb-real/id2_0000.mp4",
    }
    assert {r.split for r in rows.values() if r.split != "test"} <= {"train", "val"}

    fake = rows["Celeb-synthesis/id0_id1_0000.mp4"]
    assert (fake.label, fake.method, fake.dataset, fake.source) == ("fake", "celebdf_v2", "celebdf", "id0_0000")
    assert fake.group == rows["Celeb-real/id0_0001.mp4"].group == "celebdf/id0"
    yt = rows["YouTube-real/00171.mp4"]
    assert (yt.label, yt.method, yt.group) == ("real", "original", "celebdf/yt-00171")
    # Unlisted rows of one identity stay together in train or val.
    assert rows["Celeb-real/id0_0000.mp4"].split == rows["Celeb-real/id0_0001.mp4"].split == fake.split


def test_celebdf_malformed_test_list(tmp_path: Path) -> None:
    root = make_celebdf(tmp_path / "cdf", test_list=False)
    (root / "List_of_testing_videos.txt").write_text("YouTube-real/00170.mp4\n")
    with pytest.raises(DatasetLayoutError, match="line 1"):
        index_dataset(root, "celebdf")


# ------------------------------------------------------------------------- DFDC


def test_dfdc_labels_groups_and_splits(tmp_path: Path) -> None:
    rows = by_path(build_metadata(make_dfdc(tmp_path / "dfdc"), "dfdc", count_frames=False))
    assert set(rows) == {
        "dfdc_train_part_0/aaa.mp4",
        "dfdc_train_part_0/bbb.mp4",
        "dfdc_train_part_0/ccc.mp4",
        "dfdc_train_part_1/ddd.mp4",
        "dfdc_train_part_1/eee.mp4",
        "dfdc_train_part_1/fff.mp4",
    }
    real, fake = rows["dfdc_train_part_0/aaa.mp4"], rows["dfdc_train_part_0/bbb.mp4"]
    assert (real.label, real.method, fake.label, fake.method) == ("real", "original", "fake", "dfdc")
    assert real.group == fake.group == rows["dfdc_train_part_0/ccc.mp4"].group == "dfdc/aaa"
    assert fake.source == "aaa"
    assert rows["dfdc_train_part_1/fff.mp4"].group == "dfdc/fff"
    # Metadata "test" is honoured, "train" is split further into train/val by group.
    assert rows["dfdc_train_part_1/ddd.mp4"].split == rows["dfdc_train_part_1/eee.mp4"].split == "test"
    assert len({real.split, fake.split, rows["dfdc_train_part_0/ccc.mp4"].split}) == 1
    assert real.split in ("train", "val")


def test_dfdc_bad_metadata(tmp_path: Path) -> None:
    touch(tmp_path, "part/x.mp4")
    (tmp_path / "part/metadata.json").write_text(json.dumps({"x.mp4": "FAKE"}))
    with pytest.raises(DatasetLayoutError, match="not a DFDC metadata file"):
        index_dataset(tmp_path, "dfdc")


# ------------------------------------------------------------- DeeperForensics


def test_deeperforensics_groups_methods_and_lists(tmp_path: Path) -> None:
    rows = by_path(build_metadata(make_deeperforensics(tmp_path / "df"), "deeperforensics", count_frames=False))
    assert len(rows) == 7
    fake = rows["manipulated_videos/end_to_end/000_M101.mp4"]
    assert (fake.label, fake.method, fake.group, fake.source) == (
        "fake",
        "deeperforensics:end_to_end",
        "deeperforensics/M101",
        "000",
    )
    assert rows["manipulated_videos/reenact_postprocess/000_M101.mp4"].method == "deeperforensics:reenact_postprocess"
    src = rows["source_videos/M101/light_uniform/happy/camera_front.mp4"]
    assert (src.label, src.method, src.group, src.source) == (
        "real",
        "original",
        "deeperforensics/M101",
        "M101/light_uniform/happy/camera_front",
    )
    assert rows["source_videos/W102/light_left/neutral/camera_down.mp4"].group == "deeperforensics/W102"
    # The list names videos, so every perturbation of 000_M101 is test.
    assert fake.split == rows["manipulated_videos/reenact_postprocess/000_M101.mp4"].split == "test"
    assert rows["manipulated_videos/end_to_end/002_M101.mp4"].split == "train"
    # M101 has official train rows, so its source videos join train.
    assert src.split == rows["source_videos/M101/light_uniform/sad/camera_front.mp4"].split == "train"


def test_deeperforensics_without_lists_is_group_disjoint(tmp_path: Path) -> None:
    rows = build_metadata(make_deeperforensics(tmp_path / "df", lists=False), "deeperforensics", count_frames=False)
    assert leaking_groups(rows) == set()
    assert {r.split for r in rows} == {"train", "val"}


# ---------------------------------------------------------------------- folders


def test_folders_rows(tmp_path: Path) -> None:
    root = make_folders(tmp_path / "mydata")
    rows = by_path(build_metadata(root, "folders", count_frames=False))
    assert set(rows) == {
        "real/a.mp4",
        "real/vid1/0001.png",
        "real/vid1/0002.png",
        "fake/x.jpg",
        "fake/Deepfakes/b.mp4",
        "fake/Deepfakes/c/0001.png",
        "fake/Deepfakes/c/0002.png",
        "fake/Face2Face/d.webm",
    }
    assert {p: r.method for p, r in rows.items() if r.label == "fake"} == {
        "fake/x.jpg": "unknown",
        "fake/Deepfakes/b.mp4": "Deepfakes",
        "fake/Deepfakes/c/0001.png": "Deepfakes",
        "fake/Deepfakes/c/0002.png": "Deepfakes",
        "fake/Face2Face/d.webm": "Face2Face",
    }
    assert all(r.method == "original" for r in rows.values() if r.label == "real")
    assert all(r.dataset == "mydata" for r in rows.values())
    # Frames of one video share a group; loose files are their own group.
    assert rows["real/vid1/0001.png"].group == rows["real/vid1/0002.png"].group != rows["real/a.mp4"].group
    assert rows["fake/Deepfakes/c/0001.png"].group == rows["fake/Deepfakes/c/0002.png"].group
    assert rows["fake/Deepfakes/c/0001.png"].group != rows["fake/Deepfakes/b.mp4"].group
    assert leaking_groups(rows.values()) == set()


# ------------------------------------------------------------- auto and errors


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_auto_detection(tmp_path: Path, name: str) -> None:
    root = BUILDERS[name](tmp_path / "data")
    assert detect_layout(root) == name
    detected, rows = index_dataset(root)
    assert detected == name and rows
    assert [r.path for r in rows] == sorted(r.path for r in rows)


def test_every_layout_has_a_builder() -> None:
    assert set(layout_names()) == set(BUILDERS)


def test_auto_detection_fails_clearly(tmp_path: Path) -> None:
    touch(tmp_path, "videos/a.mp4", "b.mp4")
    with pytest.raises(DatasetLayoutError) as err:
        build_metadata(tmp_path, count_frames=False)
    message = str(err.value)
    assert "Cannot tell the layout" in message
    for hint in ("original_sequences", "Celeb-real", "metadata.json", "manipulated_videos", "real/"):
        assert hint in message


def test_unknown_layout_and_bad_roots(tmp_path: Path) -> None:
    make_folders(tmp_path)
    with pytest.raises(DatasetLayoutError, match="Unknown dataset layout 'nope'.*ffpp"):
        build_metadata(tmp_path, layout="nope", count_frames=False)
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        build_metadata(tmp_path / "absent", count_frames=False)
    with pytest.raises(DatasetLayoutError, match="No media found .* ffpp"):
        build_metadata(tmp_path, layout="ffpp", count_frames=False)


# ------------------------------------------------------------------ CSV and summary


def test_csv_round_trip(tmp_path: Path) -> None:
    rows = build_metadata(make_ffpp(tmp_path / "ff", official=True), count_frames=False)
    rows[0].frames = 42
    out = write_metadata_csv(rows, tmp_path / "out" / "meta.csv")
    assert out.read_text().splitlines()[0] == ",".join(COLUMNS)
    again = read_metadata_csv(out)
    assert again == rows
    assert again[0].frames == 42 and again[1].frames is None


def test_read_csv_errors_and_defaults(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("file,label\na.mp4,real\n")
    with pytest.raises(DatasetLayoutError, match="lacks the column"):
        read_metadata_csv(bad)
    bad.write_text("path,label\na.mp4,real\nb.mp4,maybe\n")
    with pytest.raises(DatasetLayoutError, match="line 3"):
        read_metadata_csv(bad)
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        read_metadata_csv(tmp_path / "nope.csv")
    minimal = tmp_path / "min.csv"
    minimal.write_text("path,label\na.mp4,REAL\nb.mp4,fake\n")
    a, b = read_metadata_csv(minimal)
    assert (a.label, a.method, a.frames, b.method) == ("real", "original", None, "unknown")


def test_summarize_counts(tmp_path: Path) -> None:
    rows = build_metadata(make_folders(tmp_path / "d"), count_frames=False, val_frac=0.0)
    s = summarize_metadata(rows)
    assert s.total == 8
    assert s.by_label == {"real": 3, "fake": 5}
    assert s.by_method == {"original": 3, "Deepfakes": 3, "Face2Face": 1, "unknown": 1}
    assert s.by_split == {"train": 8}
    assert s.table[("train", "fake", "Deepfakes")] == 3
    assert s.groups == 6 and s.frames_missing == 8 and s.leaking_groups == []


# ------------------------------------------------------------- frame counting


def test_frame_counting_on_real_media(tmp_path: Path, logs: pytest.LogCaptureFixture) -> None:
    from seethrough.testing.media import make_face_image, make_face_video

    root = tmp_path / "d"
    (root / "real").mkdir(parents=True)
    (root / "fake" / "Deepfakes").mkdir(parents=True)
    make_face_video(root / "real" / "a.mp4", n_frames=10, size=(160, 120))
    make_face_video(root / "fake" / "Deepfakes" / "b.mp4", n_frames=14, size=(160, 120))
    make_face_image(root / "fake" / "Deepfakes" / "c.png", size=(160, 120))
    (root / "real" / "broken.mp4").write_bytes(b"\x00\x01 not a video " * 20)

    rows = by_path(build_metadata(root, count_frames=True, workers=2, progress=False))
    assert rows["real/a.mp4"].frames == 10
    assert rows["fake/Deepfakes/b.mp4"].frames == 14
    assert rows["fake/Deepfakes/c.png"].frames == 1
    assert rows["real/broken.mp4"].frames is None
    assert "broken.mp4" in logs.text

    skipped = build_metadata(root, count_frames=False)
    assert all(r.frames is None for r in skipped)
