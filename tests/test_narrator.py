"""The narrator: template text, fact check, prompt, and the LLM paths against a stand-in server."""

from __future__ import annotations

import copy
import json
import logging
import random
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from seethrough.facts import SCHEMA_VERSION
from types import SimpleNamespace

import jsonschema
import pytest

import seethrough
from seethrough.explain import evidence as ev
from seethrough.explain.narrator import build_prompt, check_reply, narrate, template_text
from seethrough.explain.narrator import ollama_base, openai_base, strip_thinking
from seethrough.explain.narrator_facts import summarize_for_narrator

SCHEMA = json.loads((Path(seethrough.__file__).parent / "schemas" / "analysis.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
SECRET_PATH = "/home/alice/sources/whistleblower_clip.mp4"
REGIONS = ["right_eye", "left_eye", "right_brow", "left_brow", "nose", "mouth", "right_cheek", "left_cheek",
           "forehead", "jaw_chin", "boundary"]
FAMILIES = ["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter"]


# --------------------------------------------------------------------------- analysis documents


def valid(doc: dict) -> dict:
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    return doc


def base_doc(**over) -> dict:
    doc = {
        "schema_version": SCHEMA_VERSION, "seethrough_version": "0.1.0",
        "file": {"name": "whistleblower_clip.mp4", "path": SECRET_PATH, "size_bytes": 123456, "sha256": "ab" * 32},
        "status": "ok", "message": None, "error_code": None, "verdict": None, "fake_probability": None,
        "thresholds": {"real_below": 0.3, "fake_above": 0.7}, "method": None, "frames": [], "tracks": [],
        "evidence": None, "narrative": None, "media": None, "model": None, "settings": {"frames": 32},
        "timings_ms": {"total": 1234.5},
    }
    doc.update(over)
    return doc


def _verdict(p: float, t: dict) -> str:
    return "real" if p < t["real_below"] else "fake" if p >= t["fake_above"] else "uncertain"


def scored_doc(*, kind: str = "video", p: float, frame_probs: list, thresholds: dict | None = None,
               region_scores: dict | None = None, method: dict | None = None, n_tracks: int = 1,
               face_px: float = 160.0, explain: bool = True, fps: float = 3.0, bit_rate: float | None = 2e6,
               extra_caveats: list | None = None, check_schema: bool = True) -> dict:
    """A schema-valid analysis whose evidence is derived by the real evidence functions."""
    t = thresholds or {"real_below": 0.3, "fake_above": 0.7}
    verdict = _verdict(p, t)
    region_scores = region_scores or {}
    frames, objs = [], []
    for i, fp in enumerate(frame_probs):
        time_s = round(i / fps, 4) if kind == "video" else 0.0
        regions = dict(region_scores) if fp is not None and region_scores else None
        frames.append({"index": i * 10, "time_s": time_s, "fake_probability": fp,
                       "face_box": [100.0, 80.0, 100.0 + face_px, 80.0 + face_px * 1.2] if fp is not None else None,
                       "attention": None, "regions": regions})
        objs.append(SimpleNamespace(index=i * 10, time_s=time_s, fake_probability=fp, attention=None, regions=regions))
    n_scored = sum(fp is not None for fp in frame_probs)
    tracks = [{"track_id": 0, "n_frames": max(n_scored, 1), "fake_probability": p, "verdict": verdict,
               "reported": True, "median_face_px": face_px, "first_s": 0.0, "last_s": frames[-1]["time_s"]}]
    for k in range(1, n_tracks):
        q = round(p * (0.5 ** k), 4)
        tracks.append({"track_id": k, "n_frames": max(1, n_scored - k), "fake_probability": q,
                       "verdict": _verdict(q, t), "reported": False, "first_s": 0.0, "last_s": frames[-1]["time_s"]})
    if kind == "video":
        duration = round(len(frames) / fps, 4)
        media = {"kind": "video", "container": "mp4", "codec": "h264", "width": 640, "height": 480, "fps": 25.0,
                 "frame_count": int(duration * 25), "duration_s": duration, "rotation": 0, "has_audio": False,
                 "size_bytes": 123456, "extra": {"bit_rate": bit_rate}}
    else:
        media = {"kind": "image", "container": "jpeg", "codec": "mjpeg", "width": 640, "height": 480, "fps": None,
                 "frame_count": 1, "duration_s": None, "rotation": 0, "has_audio": False,
                 "size_bytes": 123456 if bit_rate else 4000, "extra": {}}
    evidence = None
    if explain:
        regions = ev.aggregate_regions([f.regions for f in objs if f.regions])
        evidence = {
            "track_id": 0, "regions": regions, "top_regions": ev.top_regions(regions),
            "key_frames": ev.key_frames(objs), "suspicious_segments": ev.suspicious_segments(objs, t["fake_above"]),
            "caveats": ev.caveats(media=media, face_px=[face_px] * max(n_scored, 1), n_scored=n_scored,
                                  n_sampled=len(frames), n_tracks=n_tracks, reported_track=0, verdict=verdict,
                                  method=method) + list(extra_caveats or []),
            "face_px": {"median": face_px, "min": face_px - 4}, "cam": ev_cam(),
        }
    doc = base_doc(verdict=verdict, fake_probability=p, thresholds=t, method=method, frames=frames,
                   tracks=tracks, evidence=evidence, media=media)
    return valid(doc) if check_schema else doc


def ev_cam() -> str:
    return "Grad-CAM on the last convolutional block"


def method_block(probs: dict) -> dict:
    return {"predicted": max(probs, key=probs.get), "probabilities": probs,
            "note": "probabilities are conditional on the face being manipulated"}


FAKE_FRAMES = [0.41, 0.52, None, None, 0.66, 0.74, 0.91, 0.93, 0.88, 0.62, 0.55, 0.71, 0.49, 0.45, 0.5, 0.47]


def fake_video() -> dict:
    return scored_doc(p=0.8731, frame_probs=FAKE_FRAMES, face_px=64.0,
                      region_scores={"mouth": 1.8234, "left_eye": 1.31, "boundary": 1.12, "nose": 0.7, "forehead": 0.4},
                      method=method_block({"Face2Face": 0.62, "FaceSwap": 0.2, "Deepfakes": 0.1,
                                           "NeuralTextures": 0.08}))


def real_video() -> dict:
    probs = [0.03, 0.05, 0.04, 0.12, 0.06, 0.02, 0.03, 0.05]
    return scored_doc(p=0.0412, frame_probs=probs, region_scores={"nose": 1.4, "right_cheek": 1.2, "mouth": 0.9})


def uncertain_video() -> dict:
    probs = [0.4, 0.5, 0.55, 0.72, 0.74, 0.5, 0.45, 0.6, 0.58, 0.52]
    return scored_doc(p=0.5549, frame_probs=probs, region_scores={"right_eye": 1.5, "jaw_chin": 1.1, "nose": 0.8},
                      method=method_block({"FaceSwap": 0.45, "Deepfakes": 0.35, "Face2Face": 0.2}))


def fake_image() -> dict:
    return scored_doc(kind="image", p=0.962, frame_probs=[0.962], region_scores={"boundary": 2.1, "left_cheek": 1.25},
                      method=method_block({"Deepfakes": 0.7, "FaceSwap": 0.3}), bit_rate=None)


def several_faces() -> dict:
    return scored_doc(p=0.81, frame_probs=[0.75, 0.8, 0.85, 0.83, 0.79, 0.81, 0.84, 0.77, 0.8, 0.82], n_tracks=3,
                      region_scores={"mouth": 1.6}, method=method_block({"Deepfakes": 0.55, "FaceSwap": 0.45}))


def no_face_doc() -> dict:
    return valid(base_doc(status="no_face", message="No face larger than 40 px was found in the 32 sampled frames.",
                          error_code="face_too_small", thresholds=None,
                          frames=[{"index": i, "time_s": i * 0.5, "fake_probability": None} for i in range(32)],
                          media={"kind": "video", "duration_s": 16.0}))


def error_doc() -> dict:
    return valid(base_doc(status="error", message="The file is damaged: the video stream ends after 2.5 s.",
                          error_code="corrupt_media", thresholds=None, media=None))


def no_evidence_doc() -> dict:
    return scored_doc(p=0.91, frame_probs=[0.9, 0.92, 0.91, 0.93], explain=False,
                      method=method_block({"FaceShifter": 0.8, "Deepfakes": 0.2}))


def random_doc(rng: random.Random, check_schema: bool = True) -> dict:
    real_below = round(rng.uniform(0.15, 0.45), 4)
    fake_above = round(rng.uniform(0.55, 0.85), 4)
    t = {"real_below": real_below, "fake_above": fake_above}
    verdict = rng.choice(["real", "uncertain", "fake"])
    extreme = rng.random() < 0.15
    if verdict == "fake":
        p = rng.choice([0.99997, 0.9996, 0.9951, 1.0, fake_above]) if extreme else rng.uniform(fake_above, 1.0)
    elif verdict == "real":
        p = rng.choice([0.00002, 0.0004, 0.0049, 0.0]) if extreme else rng.uniform(0.0, real_below)
    else:
        edges = [real_below, fake_above - 0.0004, real_below + 0.0004]
        p = rng.choice(edges) if extreme else rng.uniform(real_below, fake_above)
    p = round(p, rng.choice([4, 6]))
    kind = "image" if rng.random() < 0.25 else "video"
    n = 1 if kind == "image" else rng.randint(3, 40)
    frame_probs = [None if (kind == "video" and rng.random() < 0.15)
                   else round(min(1.0, max(0.0, rng.gauss(p, 0.15))), 4) for _ in range(n)]
    if all(fp is None for fp in frame_probs):
        frame_probs[0] = p
    names = rng.sample(REGIONS, rng.randint(0, len(REGIONS)))
    scores = {name: round(rng.uniform(0.2, 2.6), rng.choice([2, 4])) for name in names}
    method = None
    if rng.random() < 0.8:
        fams = rng.sample(FAMILIES, rng.randint(1, 5))
        raw = [rng.random() + 1e-3 for _ in fams]
        method = method_block({f: round(r / sum(raw), 6) for f, r in zip(fams, raw)})
    extra = []
    if rng.random() < 0.2:
        extra.append({"code": "heavy_compression",
                      "text": "The copy looks re-encoded several times; real and fake faces both lose detail."})
    return scored_doc(kind=kind, p=p, frame_probs=frame_probs, thresholds=t, region_scores=scores, method=method,
                      n_tracks=rng.choice([1, 1, 1, 2, 3]), face_px=rng.choice([48.0, 90.5, 160.0, 300.0]),
                      explain=rng.random() < 0.85, fps=rng.choice([1.0, 2.5, 3.0, 7.3]),
                      bit_rate=rng.choice([None, 2e6, 3e4]), extra_caveats=extra, check_schema=check_schema)


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


# --------------------------------------------------------------------------- template


def test_fake_video_template_says_what_a_reader_needs():
    doc = fake_video()
    text = template_text(doc)
    assert 3 <= len(sentences(text)) <= 6, text
    assert "deepfake" in text and "87%" in text and "70%" in text
    assert "Face2Face (62%)" in text and "rough hint" in text and "If the face was manipulated" in text
    assert "the mouth (1.8 times the face average)" in text
    assert "the person's left eye" in text and "the blending boundary around the face" in text
    seg = doc["evidence"]["suspicious_segments"][0]
    assert f"from {seg['start_s']:.1f} to {seg['end_s']:.1f} seconds" in text
    assert "2.3 seconds (93%)" in text  # the key frame: index 7 at 7/3 s
    assert "14 of the 16 frames" in text
    assert "the face is small (64 px across)" in text.lower()  # low-resolution caveat, verbatim
    assert "logit" not in text and SECRET_PATH not in text
    assert check_reply(text, doc) == []


def test_real_verdict_names_no_method_and_says_clear():
    doc = real_video()
    doc["method"] = method_block({"Face2Face": 0.7, "FaceSwap": 0.3})  # present, but the verdict is real
    doc = valid(doc)
    text = template_text(doc)
    assert "to be real" in text and "only 4%" in text and "well below its threshold of 30%" in text
    assert not any(f in text for f in FAMILIES)
    assert "the nose" in text and "the person's right cheek" in text and "mouth" not in text
    assert "no stretch reached the threshold" in text and "highest-scoring frame, at 1.0 seconds, scored 12%" in text
    assert check_reply(text, doc) == []


def test_uncertain_verdict_mentions_band_and_method_hedged():
    doc = uncertain_video()
    text = template_text(doc)
    assert "inconclusive" in text and "55%" in text and "uncertain band" in text
    assert "FaceSwap (45%)" in text and "a weak match" in text
    assert "The score lies in the uncertain band" not in text  # said once already, not repeated as a caveat
    assert check_reply(text, doc) == []


def test_image_has_no_timeline_and_several_faces_are_named():
    img = fake_image()
    text = template_text(img)
    assert "this image" in text and "single image, so there is no timeline" in text and "seconds" not in text
    assert "96%" in text and "Deepfakes (70%)" in text
    assert check_reply(text, img) == []
    many = several_faces()
    text = template_text(many)
    assert "the most suspicious of the 3 faces it tracked" in text
    assert check_reply(text, many) == []


def test_no_face_error_and_explanations_off():
    text = template_text(no_face_doc())
    assert "no verdict" in text and "no face large enough" in text and "40 px" in text
    assert not re.search(r"\b(real|fake|deepfake|genuine)\b", text)
    assert check_reply(text, no_face_doc()) == []
    text = template_text(error_doc())
    assert "could not analyse" in text and "damaged" in text and "2.5 s" in text and "%" not in text
    assert check_reply(text, error_doc()) == []
    doc = no_evidence_doc()
    text = template_text(doc)
    assert "switched off" in text and "91%" in text and "FaceShifter (80%)" in text
    assert "heatmaps" not in text
    assert check_reply(text, doc) == []


def test_template_is_deterministic_and_passes_its_own_fact_check_on_random_docs():
    rng = random.Random(1234)
    for i in range(160):
        doc = random_doc(rng, check_schema=i % 8 == 0)  # validating is slow; the shapes repeat
        text = template_text(doc)
        assert text == template_text(copy.deepcopy(doc))
        assert 3 <= len(sentences(text)) <= 6, text
        assert check_reply(text, doc) == [], (text, check_reply(text, doc))
        shown = re.findall(r"probability of manipulation at (?:only )?(.+?%)", text)
        assert shown, text
        if doc["verdict"] == "real":
            assert not any(f in text for f in FAMILIES)


def test_checker_catches_perturbed_template_text_on_random_docs():
    """Change one fact in the template's own (passing) text: the check must notice."""
    rng = random.Random(99)
    caught = {"percent": 0, "verdict": 0, "side": 0}
    for _ in range(80):
        doc = random_doc(rng, check_schema=False)
        text = template_text(doc)
        _, facts = summarize_for_narrator(doc)
        shown = facts.probability_text
        if shown[0].isdigit():
            taken = facts.probabilities + [v / 100 for v in facts.literal_percents]
            free = [q for q in range(1, 100) if all(abs(100 * x - q) > 1.5 for x in taken)]
            if free:
                q = rng.choice(free)
                bad = text.replace(f"at {shown}", f"at {q}%", 1).replace(f"at only {shown}", f"at only {q}%", 1)
                assert check_reply(bad, doc), bad
                caught["percent"] += 1
        swap = {"fake": ("to be a deepfake", "to be real"), "real": ("to be real", "to be a deepfake"),
                "uncertain": ("is inconclusive", "is clearly fake")}[doc["verdict"]]
        assert any("verdict" in p for p in check_reply(text.replace(*swap), doc)), text
        caught["verdict"] += 1
        for a, b in (("left", "right"), ("right", "left")):
            for base in ("eye", "eyebrow", "cheek"):
                region = {"eyebrow": "brow"}.get(base, base)
                said = re.compile(rf"person's {a} {base}\b")
                if said.search(text) and f"{b}_{region}" not in facts.regions:
                    bad = said.sub(f"person's {b} {base}", text, count=1)
                    assert check_reply(bad, doc), bad
                    caught["side"] += 1
    assert min(caught.values()) >= 10, caught


def test_percentages_are_never_rounded_to_certainty_or_to_the_threshold():
    for p, shown in ((0.99997, "more than 99.9%"), (0.9961, "99.6%"), (0.00002, "less than 0.1%"), (0.0031, "0.3%")):
        doc = scored_doc(p=p, frame_probs=[p, p, p])
        text = template_text(doc)
        assert f"at {'only ' if p < 0.3 else ''}{shown}" in text, text
        assert "100%" not in text and " 0%" not in text
        assert check_reply(text, doc) == []
    doc = scored_doc(p=0.6951, frame_probs=[0.6951] * 3)  # uncertain, would round to the 70% fake threshold
    assert "69.5%" in template_text(doc)


# --------------------------------------------------------------------------- fact check

FAITHFUL_FAKE = (
    "seethrough judges the video to be a deepfake, putting the probability of manipulation at 87%, well above "
    "its 70% threshold for a fake verdict. If it was manipulated, it most resembles Face2Face (62%), though that "
    "is only a rough hint. The detector looked hardest at the mouth, the person's left eye and the blending "
    "boundary around the face. The most suspicious stretch runs from 1.7 to 2.7 seconds, and the most telling "
    "frame is at 2.3 seconds (93%). A face was found in 14 of the 16 sampled frames, and it is small (64 px "
    "across), so fine traces may be lost.")


def test_checker_accepts_faithful_paraphrases():
    doc = fake_video()
    assert check_reply(FAITHFUL_FAKE, doc) == []
    assert check_reply("<think>Maybe 95%? The nose?</think>\n" + FAITHFUL_FAKE, doc) == []
    assert check_reply("Here is the paragraph:\n\n**" + FAITHFUL_FAKE + "**", doc) == []
    assert check_reply("The video was flagged as manipulated: 87% probability. The mouth (1.82 times the average) "
                       "and left eye (1.3 times) drew the most attention; the frame at 2.3 seconds had a 93% "
                       "probability of manipulation.", doc) == []
    real = real_video()
    assert check_reply("seethrough found no sign of manipulation in this video: the chance that the face was "
                       "manipulated is just 4%, well below the 30% threshold for a real verdict. The nose and the "
                       "right cheek drew the most attention.", real) == []
    assert check_reply("The clip appears genuine, with a low probability of manipulation (4%).", real) == []
    unc = uncertain_video()
    assert check_reply("The result is inconclusive: the probability of manipulation is 55%, between the 30% and "
                       "70% thresholds. If it was manipulated, it most closely resembles FaceSwap (45%).", unc) == []
    assert check_reply("seethrough cannot tell whether this video is real or fake; it puts the probability of "
                       "manipulation at 55%, in the uncertain band.", unc) == []
    assert check_reply("seethrough could not reach a clear verdict: it is unclear whether the video is real or "
                       "fake, with a 55% probability of manipulation.", unc) == []


@pytest.mark.parametrize("bad, expect", [
    (FAITHFUL_FAKE.replace("at 87%", "at 95%"), "95%"),
    (FAITHFUL_FAKE.replace("the mouth,", "the nose,"), "nose"),
    (FAITHFUL_FAKE.replace("left eye", "right eye"), "right eye"),
    (FAITHFUL_FAKE.replace("judges the video to be a deepfake", "judges the video to be genuine"), "real"),
    (FAITHFUL_FAKE.replace("judges the video to be a deepfake", "finds that the video is not a deepfake"), "real"),
    (FAITHFUL_FAKE.replace("Face2Face (62%)", "FaceShifter"), "FaceShifter"),
    (FAITHFUL_FAKE.replace("most resembles Face2Face (62%)", "most resembles FaceSwap (20%)"), "closest"),
    (FAITHFUL_FAKE.replace("Face2Face (62%)", "Face2Face (20%)"), "gives Face2Face 20%"),
    (FAITHFUL_FAKE.replace("If it was manipulated, it most resembles Face2Face (62%), though that is only a rough "
                           "hint.", "It was made with Face2Face."), "certain"),
    (FAITHFUL_FAKE.replace("at 2.3 seconds", "at 5.5 seconds"), "5.5 seconds"),
    (FAITHFUL_FAKE.replace("from 1.7 to 2.7 seconds", "from 1.7 to 3.4 seconds"), "3.4 seconds"),
    (FAITHFUL_FAKE.replace("14 of the 16", "15 of the 16"), "15"),
    (FAITHFUL_FAKE + " Two faces were seen.", "Two faces"),
    (FAITHFUL_FAKE.replace("the person's left eye", "the left eye (viewer's left)"), "viewer"),
    (FAITHFUL_FAKE + " The ears look odd.", "ears"),
    (FAITHFUL_FAKE + " About 64% of the face is visible.", "64%"),  # 64 is in a caveat, but as pixels
    (FAITHFUL_FAKE + " The logit was 1.93.", "jargon"),
    (FAITHFUL_FAKE + " Its score was 0.95.", "0.95"),
    (FAITHFUL_FAKE + " Two stretches and 4 faces were seen.", "4 faces"),
    (FAITHFUL_FAKE + " It covers 3 stretches.", "3 stretches"),
    (FAITHFUL_FAKE.replace("putting the probability of manipulation at 87%", "with high confidence"),
     "overall probability"),
    (FAITHFUL_FAKE + " The mouth scored 1.31 times the face average.", "score of 1.31"),
    (FAITHFUL_FAKE + " Overall, the probability of manipulation is 93%.", "overall probability is 87%"),
    ("The detector looked at the mouth and found a probability of manipulation of 87%.", "does not state the verdict"),
    ("The video is a deepfake (87%). The probability that it is genuine is 13%.", "probability that the face is real"),
])
def test_checker_rejects(bad, expect):
    problems = check_reply(bad, fake_video())
    assert problems, bad
    assert any(expect.lower() in p.lower() for p in problems), problems


def test_checker_rejects_verdict_contradictions_for_real_uncertain_and_no_face():
    real = real_video()
    assert any("verdict is real" in p for p in check_reply(
        "The video is real (4%), but the mouth shows signs of manipulation.", real))
    assert any("method estimates" in p for p in check_reply(
        "The video is real (4%); it most resembles Face2Face.", real))  # no methods are given for a real verdict
    unc = uncertain_video()
    assert any("verdict is uncertain" in p
               for p in check_reply("The video is fake: 55% probability of manipulation.", unc))
    assert any("verdict is uncertain" in p for p in check_reply(
        "The result is inconclusive (55%), but the face is probably manipulated.", unc))
    assert any("no verdict" in p for p in check_reply("No face was found, so the video is real.", no_face_doc()))
    assert check_reply("No face larger than 40 px was found, so seethrough gave no verdict.", no_face_doc()) == []


def test_checker_numbers_rounding_rules():
    doc = scored_doc(p=0.99963, frame_probs=[0.99963] * 3)
    assert check_reply("The video is a deepfake: the probability of manipulation is more than 99.9%.", doc) == []
    assert check_reply("The video is a deepfake: the probability of manipulation is 99.96%.", doc) == []
    assert check_reply("The video is a deepfake: the probability of manipulation is 100%.", doc) == []
    assert check_reply("The video is a deepfake: the probability of manipulation is 99.9%.", doc)  # 99.963 -> 100.0
    assert check_reply("The video is a deepfake: the probability of manipulation is more than 98%.", doc)  # not tight
    doc = fake_video()
    assert check_reply(FAITHFUL_FAKE.replace("87%", "87.3%"), doc) == []
    assert check_reply(FAITHFUL_FAKE.replace("87%", "87.5%"), doc)
    assert check_reply(FAITHFUL_FAKE.replace("87%", "87 per cent"), doc) == []
    assert check_reply(FAITHFUL_FAKE.replace("at 2.3 seconds", "at 2.33 s"), doc) == []
    assert check_reply(FAITHFUL_FAKE.replace("at 2.3 seconds", "at 2.4 s"), doc)


def test_strip_thinking():
    assert strip_thinking("<think>plan\n93%</think>\n\nAnswer.") == "Answer."
    assert strip_thinking("reasoning 93%</think>Answer.") == "Answer."
    assert strip_thinking("<think>never closed") == ""


def test_prompt_carries_only_the_evidence():
    doc = fake_video()
    messages = build_prompt(doc)
    assert [m["role"] for m in messages] == ["system", "user"]
    system, user = messages[0]["content"], messages[1]["content"]
    assert "3 to 6" in system and "exactly as given" in system and "invent" in system
    payload = json.loads(user.split("Evidence:\n", 1)[1].split("\n\n")[0])
    assert payload["verdict"] == "fake" and payload["probability_of_manipulation"] == "87%"
    assert payload["thresholds"] == {"real_below": "30%", "fake_at_or_above": "70%"}
    assert payload["method"]["probabilities_if_manipulated"]["Face2Face"] == "62%"
    assert [r["region"] for r in payload["top_regions"]] == ["mouth", "left_eye", "boundary"]
    assert payload["key_frames"][0] == {"frame": 70, "time_s": 2.33, "probability_of_manipulation": "93%",
                                        "top_region": "mouth", "top_region_in_words": "the mouth"}
    assert payload["suspicious_segments"][0]["peak_probability_of_manipulation"] == "93%"
    assert payload["frames_with_face"] == 14 and payload["frames_sampled"] == 16
    assert any("64 px" in c for c in payload["caveats"])
    for secret in (SECRET_PATH, "whistleblower", "abab"):
        assert secret not in user
    real_user = build_prompt(real_video())[1]["content"]
    assert "method" not in json.loads(real_user.split("Evidence:\n", 1)[1].split("\n\n")[0])


# --------------------------------------------------------------------------- LLM paths


class _Stub(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.reply = ""
        self.mode = "ok"
        self.requests: list[dict] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def do_POST(self):
        srv: _Stub = self.server  # type: ignore[assignment]
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        srv.requests.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
        try:
            if srv.mode == "sleep":
                time.sleep(1.5)
            if srv.mode == "malformed":
                out, code = b"{this is not json", 200
            elif srv.mode == "missing":
                out, code = json.dumps({"model": "m", "done": True}).encode(), 200
            elif srv.mode == "http404":
                out, code = json.dumps({"error": "model 'nope' not found"}).encode(), 404
            elif self.path == "/api/chat":
                out, code = json.dumps({"model": "m", "message": {"role": "assistant", "content": srv.reply},
                                        "done": True}).encode(), 200
            elif self.path == "/v1/chat/completions":
                out, code = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant",
                                                                              "content": srv.reply}}]}).encode(), 200
            else:
                out, code = b'{"error": "no such path"}', 404
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        except OSError:  # the client gave up (timeout test)
            pass


@pytest.fixture()
def stub():
    srv = _Stub()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("OLLAMA_HOST", "SEETHROUGH_OLLAMA_MODEL", "OPENAI_BASE_URL", "SEETHROUGH_OPENAI_MODEL",
                "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def test_ollama_faithful_reply_is_used(stub, monkeypatch):
    stub.reply = "<think>Let me check the numbers.</think>\n" + FAITHFUL_FAKE
    monkeypatch.setenv("OLLAMA_HOST", stub.url.removeprefix("http://"))  # host:port without scheme
    out = narrate(fake_video(), "ollama", model="test-model", timeout=5)
    assert out == {"text": FAITHFUL_FAKE, "engine": "ollama:test-model", "requested": "ollama:test-model",
                   "fallback_reason": None}
    (req,) = stub.requests
    assert req["path"] == "/api/chat"
    body = req["body"]
    assert body["model"] == "test-model" and body["stream"] is False and body["options"] == {"temperature": 0}
    prompt = json.dumps(body["messages"])
    assert "87%" in prompt and "mouth" in prompt and "Face2Face" in prompt and "64 px" in prompt
    assert SECRET_PATH not in prompt and "whistleblower" not in prompt


def test_ollama_hallucination_falls_back_to_the_template(stub, caplog):
    stub.reply = FAITHFUL_FAKE.replace("87%", "95%").replace("the mouth,", "the nose,")
    doc = fake_video()
    with caplog.at_level(logging.WARNING, logger="seethrough"):
        out = narrate(doc, "ollama", model="m1", host=stub.url, timeout=5)
    assert out["text"] == template_text(doc) and out["engine"] == "template" and out["requested"] == "ollama:m1"
    reason = out["fallback_reason"]
    assert reason.startswith("ollama reply failed the fact check: states 95% but the evidence has no such number")
    assert "more problem" in reason
    assert any("fact check" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_unreachable_server_falls_back_quickly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    out = narrate(fake_video(), "ollama", host=f"127.0.0.1:{port}", timeout=5)
    assert time.perf_counter() - t0 < 3
    assert out["engine"] == "template" and out["requested"] == "ollama:llama3.2"
    assert out["fallback_reason"] == f"ollama at http://127.0.0.1:{port} unreachable: Connection refused"


def test_slow_server_times_out(stub):
    stub.mode = "sleep"
    t0 = time.perf_counter()
    out = narrate(fake_video(), "openai", host=stub.url + "/v1", timeout=0.3)
    assert time.perf_counter() - t0 < 1.4
    assert out["engine"] == "template"
    assert out["fallback_reason"] == f"openai at {stub.url}/v1 timed out after 0.3 s"


@pytest.mark.parametrize("mode, expect", [
    ("malformed", "sent a malformed reply (not JSON"),
    ("missing", "sent a malformed reply (no message/content)"),
    ("http404", "answered HTTP 404: model 'nope' not found"),
])
def test_bad_replies_fall_back(stub, mode, expect):
    stub.mode = mode
    out = narrate(fake_video(), "ollama", host=stub.url, timeout=5)
    assert out["engine"] == "template" and expect in out["fallback_reason"], out["fallback_reason"]


def test_empty_reply_falls_back(stub):
    stub.reply = "<think>only thoughts</think>"
    out = narrate(fake_video(), "ollama", host=stub.url, timeout=5)
    assert out["engine"] == "template" and "empty reply" in out["fallback_reason"]


def test_openai_path_sends_key_only_when_set(stub, monkeypatch):
    stub.reply = FAITHFUL_FAKE
    monkeypatch.setenv("OPENAI_BASE_URL", stub.url + "/v1/")
    monkeypatch.setenv("SEETHROUGH_OPENAI_MODEL", "qwen-local")
    out = narrate(fake_video(), "openai", timeout=5)
    assert out["engine"] == "openai:qwen-local" and out["text"] == FAITHFUL_FAKE
    assert "Authorization" not in stub.requests[0]["headers"]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    narrate(fake_video(), "openai", timeout=5)
    req = stub.requests[1]
    assert req["path"] == "/v1/chat/completions" and req["headers"]["Authorization"] == "Bearer sk-test-123"
    assert req["body"]["model"] == "qwen-local" and req["body"]["temperature"] == 0
    assert [m["role"] for m in req["body"]["messages"]] == ["system", "user"]


def test_no_verdict_docs_never_call_the_llm(stub):
    out = narrate(no_face_doc(), "ollama", host=stub.url, timeout=5)
    assert stub.requests == []
    assert out["engine"] == "template" and "status no_face" in out["fallback_reason"]
    assert out["text"] == template_text(no_face_doc())
    assert narrate(error_doc())["fallback_reason"] is None


def test_template_engine_and_unknown_engine():
    doc = fake_video()
    assert narrate(doc) == {"text": template_text(doc), "engine": "template", "requested": "template",
                            "fallback_reason": None}
    with pytest.raises(ValueError, match="template, ollama, openai"):
        narrate(doc, "gpt-9")


def test_host_normalisation(monkeypatch):
    assert ollama_base() == "http://127.0.0.1:11434"
    assert ollama_base("127.0.0.1:11434") == "http://127.0.0.1:11434"
    assert ollama_base("0.0.0.0") == "http://127.0.0.1:11434"
    assert ollama_base("localhost") == "http://localhost:11434"
    assert ollama_base("https://llm.example.org/") == "https://llm.example.org"
    monkeypatch.setenv("OLLAMA_HOST", "10.0.0.5:9999")
    assert ollama_base() == "http://10.0.0.5:9999"
    assert openai_base() == "http://127.0.0.1:8080/v1"
    assert openai_base("127.0.0.1:8000/v1/") == "http://127.0.0.1:8000/v1"


# --------------------------------------------------------------------------- provenance


def with_provenance(doc: dict, *args, **kw) -> dict:
    from seethrough.testing.provenance import example_block

    doc = copy.deepcopy(doc)
    doc["provenance"] = example_block(doc.get("media", {}).get("kind") or "video", *args, **kw)
    return valid(doc)


@pytest.mark.parametrize("make", [fake_video, real_video, uncertain_video, fake_image, several_faces, no_evidence_doc])
@pytest.mark.parametrize("state", ["valid", "trusted"])
def test_template_states_a_signed_ai_declaration_first_and_passes_its_check(make, state):
    doc = with_provenance(make(), state)
    text = template_text(doc)
    declaration = doc["provenance"]["statements"][0]["text"]
    assert text.startswith(declaration)
    assert check_reply(text, doc) == [], text
    assert template_text(make()) in text  # the detector's own paragraph is unchanged after it
    assert len(sentences(text)) <= 8


def test_template_warns_about_failing_credentials_and_passes_its_check():
    for make in (fake_video, real_video, fake_image):
        doc = with_provenance(make(), "invalid")
        text = template_text(doc)
        assert text.startswith("Warning: this file carries Content Credentials signed by Example AI Lab that fail")
        assert check_reply(text, doc) == [], text


def test_no_verdict_text_still_states_the_declaration():
    doc = no_face_doc()
    doc["provenance"] = with_provenance(fake_video(), "valid")["provenance"]
    text = template_text(valid(doc))
    assert text.startswith("Content Credentials signed by Example AI Lab say this video was made by a generative model")
    assert "no verdict" in text


def test_unsigned_or_absent_provenance_adds_nothing_to_the_text():
    for block in ({"state": "absent"}, {"state": "absent", "stripped": True}):
        doc = with_provenance(real_video(), **block)
        assert template_text(doc) == template_text(real_video())


def test_prompt_carries_the_declaration_as_the_files_own_claim():
    doc = with_provenance(real_video(), "valid")
    user = build_prompt(doc)[1]["content"]
    evidence = json.loads(user.split("Evidence:\n", 1)[1].split("\n\nWrite", 1)[0])
    assert evidence["provenance"]["declared_ai_generated"] is True
    assert evidence["provenance"]["what_the_file_says"] == [doc["provenance"]["statements"][0]["text"]]


REAL = "seethrough judges this video to be real: it puts the probability of manipulation at only 4%."


@pytest.mark.parametrize("state, reply, expect", [
    ("valid", "Its Content Credentials, signed by Example AI Lab, declare that it was made by a generative "
              "model; the signature is valid but the signer is not in a trust list. " + REAL, None),
    ("valid", REAL, "does not state the signed declaration"),
    ("valid", "Its Content Credentials do not say it was AI-generated. " + REAL, "denies the signed"),
    ("valid", "Content Credentials signed by OpenAI say it was made by a generative model. " + REAL,
     "names OpenAI as the signer"),
    ("valid", "Content Credentials signed by Example AI Lab, a trusted signer, say it was made by a generative "
              "model. " + REAL, "says the signer is trusted"),
    ("valid", "Content Credentials signed by Example AI Lab say it was made by a generative model, but the "
              "signature is invalid. " + REAL, "fail validation, but they are valid"),
    ("trusted", "Content Credentials signed by Example AI Lab, which is in the trust list supplied, say it was "
                "made by a generative model. " + REAL, None),
    ("trusted", "Content Credentials signed by Example AI Lab say it was made by a generative model, but the "
                "signer is not in a trust list. " + REAL, "says the signer is not trusted"),
    ("invalid", "Its Content Credentials are valid. " + REAL, "says the Content Credentials are valid"),
    ("invalid", REAL, "does not warn"),
    ("invalid", "Its Content Credentials fail validation: the image was changed after signing. " + REAL, None),
    ("absent", "Its metadata says it was made by a generative model. " + REAL, "no valid signed declaration"),
])
def test_fact_check_covers_provenance_sentences(state, reply, expect):
    doc = with_provenance(real_video(), state)
    problems = check_reply(reply, doc)
    if expect is None:
        assert problems == [], problems
    else:
        assert any(expect in p for p in problems), problems


def test_provenance_words_are_not_read_as_the_verdict():
    # "made by a generative model" is the file's claim; the detector still says real.
    doc = with_provenance(real_video(), "valid")
    reply = ("Content Credentials signed by Example AI Lab say this video was made by a generative model, with a "
             "valid signature from a signer not in a trust list. " + REAL)
    assert check_reply(reply, doc) == []
    assert any("verdict" in p for p in check_reply("This video is synthetic and fake. " + REAL, doc))


# --------------------------------------------------------------------------- method families (the bundled model's head)

FAMILY_PROBS = {"learned_face_swap": 0.61, "reenactment": 0.14, "graphics_face_swap": 0.09, "talking_head": 0.07,
                "synthetic_face": 0.05, "attribute_editing": 0.04}


def family_fake() -> dict:
    doc = fake_video()
    doc["method"] = method_block(FAMILY_PROBS)
    return valid(doc)


FAITHFUL_FAMILY = FAITHFUL_FAKE.replace("it most resembles Face2Face (62%)", "it most resembles a learned face swap (61%)")


def test_template_and_summary_name_families_in_words():
    doc = family_fake()
    text = template_text(doc)
    assert "the manipulation family it most resembles is learned face swap (61%)" in text
    assert "learned_face_swap" not in text
    summary, _ = summarize_for_narrator(doc)
    assert summary["method"]["most_resembles"] == "learned face swap"
    assert summary["method"]["probabilities_if_manipulated"]["attribute editing"] == "4%"
    assert check_reply(text, doc) == []


def test_checker_reads_family_names_and_ffpp_names_within_them():
    doc = family_fake()
    assert check_reply(FAITHFUL_FAMILY, doc) == []
    # an FF++ method names its family's estimate
    assert check_reply(FAITHFUL_FAMILY.replace("a learned face swap (61%)", "a Deepfakes-style face swap (61%)"),
                       doc) == []
    # "Face Swap" inside "Learned Face Swap" is the family, not FaceSwap (graphics, 9%)
    assert check_reply(FAITHFUL_FAMILY.replace("a learned face swap", "a Learned Face Swap"), doc) == []
    for bad, expect in [
        (FAITHFUL_FAMILY.replace("a learned face swap (61%)", "reenactment (14%)"), "closest"),
        (FAITHFUL_FAMILY.replace("a learned face swap (61%)", "a FaceSwap manipulation"), "closest"),
        (FAITHFUL_FAMILY.replace("(61%)", "(41%)"), "gives learned face swap 41%"),
        (FAITHFUL_FAMILY + " It is clearly a talking head.", "certain"),
    ]:
        problems = check_reply(bad, doc)
        assert any(expect in p for p in problems), (bad, problems)


def test_checker_reads_a_family_word_against_an_ffpp_head():
    doc = fake_video()  # Face2Face 62% first, NeuralTextures 8%: both reenactment
    assert check_reply(FAITHFUL_FAKE.replace("it most resembles Face2Face (62%)",
                                             "it most resembles reenactment, like Face2Face (62%)"), doc) == []
    problems = check_reply(FAITHFUL_FAKE + " It may also be a talking head.", doc)
    assert any("talking head" in p and "not among" in p for p in problems), problems
