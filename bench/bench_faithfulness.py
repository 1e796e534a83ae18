"""How faithful are the explanations? Pointing game and deletion curves on fakes with a known mask.

    .venv/bin/python bench/bench_faithfulness.py [--data DIR] [--n 200] [--deletion-n 100]
        [--seed 0] [--model PATH] [--groups FILE|auto|none] [--random-repeats 2]

For each real face crop (DFDC real crops from ``--data``, default ``../shared/data/dfdc_faces``;
generated astronaut faces when absent) two fakes with a known manipulated area are made:

- a **local blend**: one facial region (cycling through the ten part regions) replaced by
  a perturbed copy of the face through a feathered mask (``explain.faithfulness.local_blend``);
- a **whole-face self-blend** (``synth.self_blend``), whose target is the ``boundary`` region
  (the blending seam), since every inner region is changed.

Metric 1, pointing game: does the region ranked first on the Grad-CAM map
(``region_scores``) overlap the manipulated area? Compared with picking a region at random
(uniformly or by area, exact expectations) and with always naming the model's most frequent
top region. Metric 2, deletion: the calibrated frame fake probability while the hottest
5-50% of pixels (by CAM, by a random map of the same smoothness, or the same restricted to
the face first) are replaced by a blurred copy of the crop.

Writes ``bench/results/faithfulness.md`` and ``bench/results/faithfulness_deletion.png``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from seethrough.log import get_logger, setup_logging

log = get_logger("seethrough.bench.faithfulness")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "dfdc_faces"
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Face:
    crop: np.ndarray
    landmarks: np.ndarray
    source: str


@dataclass
class Source:
    faces: list[Face]
    description: str
    tried: int
    failed: int


@dataclass
class PointingRecord:
    region: str  # the manipulated region (local) or "boundary" (self-blend)
    top: str | None
    hit: bool
    uniform: float
    weighted: float
    p_fake: float
    hits_by_region: dict[str, bool] = field(default_factory=dict)  # would "always r" have hit?
    n_targets: int = 1  # regions that count as manipulated


# ------------------------------------------------------------------------------ data


def _groups(arg: str) -> tuple[set[str] | None, str]:
    if arg == "none":
        return None, "all groups"
    if arg == "auto":  # the benchmark's DFDC test part: held out of every model that keeps the committed split
        from seethrough.datasets.heldout import default_split_path, load_split

        path = default_split_path()
        groups = set(load_split(path).dataset("dfdc_faces").test)
    else:
        path = Path(arg)
        groups = set(json.loads(path.read_text()))
    return groups, f"only the {len(groups)} groups held out from training ({path.relative_to(ROOT) if path.is_relative_to(ROOT) else path})"


def dfdc_faces(data: Path, n: int, pipe, rng: np.random.Generator, groups: set[str] | None, groups_note: str) -> Source:
    from tqdm import tqdm

    with open(data / "labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"] == "real" and (groups is None or r["group"] in groups)]
    order = rng.permutation(len(rows))
    faces: list[Face] = []
    tried = failed = 0
    with tqdm(total=n, desc="faces", unit="face") as bar:
        for i in order:
            if len(faces) >= n:
                break
            tried += 1
            path = data / rows[i]["path"]
            bgr = cv2.imread(str(path))
            res = pipe.process_image(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)) if bgr is not None else None
            if res is None or not res.crops or res.crops[0].crop_landmarks is None:
                failed += 1
                log.debug("no usable face in %s", path)
                continue
            c = res.crops[0]
            faces.append(Face(c.crop, c.crop_landmarks, rows[i]["path"]))
            bar.update(1)
    desc = f"DFDC real face crops from `{data}` ({len(rows)} real rows; {groups_note})"
    return Source(faces, desc, tried, failed)


def generated_faces(n: int, pipe, rng: np.random.Generator) -> Source:
    """The astronaut at varied scale, position, rotation and brightness (one identity only)."""
    from tqdm import tqdm

    from seethrough.testing.media import compose_frame

    faces: list[Face] = []
    failed = 0
    for i in tqdm(range(n), desc="faces", unit="face"):
        frame = compose_frame(640, 480, scale=rng.uniform(0.6, 1.2), cx=rng.uniform(0.4, 0.6), cy=rng.uniform(0.4, 0.6))
        rot = cv2.getRotationMatrix2D((320, 240), rng.uniform(-15, 15), 1.0)
        frame = cv2.warpAffine(frame, rot, (640, 480), borderMode=cv2.BORDER_REFLECT101)
        frame = np.clip(frame.astype(np.float32) * rng.uniform(0.7, 1.3), 0, 255).astype(np.uint8)
        res = pipe.process_image(frame)
        if not res.crops or res.crops[0].crop_landmarks is None:
            failed += 1
            continue
        faces.append(Face(res.crops[0].crop, res.crops[0].crop_landmarks, f"astronaut-{i}"))
    desc = "**generated faces** (`seethrough.testing`: the astronaut photo at varied scale, rotation, brightness; one identity) - the data folder was not found"
    return Source(faces, desc, n, failed)


# ------------------------------------------------------------------------------ measurement


def run(args) -> dict:
    from tqdm import tqdm

    from seethrough.explain import gradcam_maps
    from seethrough.explain.faithfulness import (
        DELETION_FRACTIONS,
        candidate_regions,
        deletion_images,
        frame_fake_probability,
        hit_regions,
        local_blend,
        pointing_hit,
        random_baseline,
    )
    from seethrough.faces import FacePipeline, region_masks
    from seethrough.faces.regions import PART_REGIONS
    from seethrough.inference import Predictor, get_predictor
    from seethrough.synth import self_blend

    rng = np.random.default_rng(args.seed)
    predictor = Predictor(args.model) if args.model else get_predictor()
    pipe = FacePipeline(crop_size=predictor.size, margin=predictor.crop_margin)
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    if args.data.is_dir() and (args.data / "labels.csv").is_file():
        groups, note = _groups(args.groups)
        source = dfdc_faces(args.data, args.n, pipe, rng, groups, note)
    else:
        log.warning("data folder %s not found: using generated faces", args.data)
        source = generated_faces(args.n, pipe, rng)
    log.info("%d faces (%d tried, %d without a usable face)", len(source.faces), source.tried, source.failed)

    fractions = DELETION_FRACTIONS
    steps = [f for f in fractions if f > 0]  # the 0% point is the fake's own score
    local: list[PointingRecord] = []
    seam: list[PointingRecord] = []
    p_real: list[float] = []
    curves: dict[tuple[str, str], dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    p0: dict[str, list[float]] = {"local": [], "self_blend": []}
    plan: list[str] = []
    for i, face in enumerate(tqdm(source.faces, desc="fakes", unit="face")):
        crop, lm = face.crop, face.landmarks
        if not plan:
            plan = list(rng.permutation(PART_REGIONS))
        region = str(plan.pop())
        regions = candidate_regions(lm, crop.shape)
        if region not in regions:  # too small in this crop (e.g. an eye of a turned head)
            region = str(rng.choice([r for r in PART_REGIONS if r in regions]))
        loc = local_blend(crop, lm, region, rng)
        sb = self_blend(crop, lm, rng)
        probs = frame_fake_probability(predictor, [crop, loc.image, sb.image])
        p_real.append(float(probs[0]))
        cams = gradcam_maps(predictor, [loc.image, sb.image])

        hits = hit_regions(lm, loc.mask)
        pt = pointing_hit(cams[0], lm, loc.mask)
        local.append(PointingRecord(region, pt.region, pt.hit, random_baseline(lm, loc.mask),
                                    random_baseline(lm, loc.mask, weighted=True), float(probs[1]),
                                    {r: r in hits for r in regions}, len(hits)))
        if region not in hits:
            log.warning("%s: the blended %s did not meet the overlap rule", face.source, region)
        pt = pointing_hit(cams[1], lm, targets={"boundary"})
        seam.append(PointingRecord("boundary", pt.region, pt.hit,
                                   random_baseline(lm, shape=crop.shape, targets={"boundary"}),
                                   random_baseline(lm, shape=crop.shape, targets={"boundary"}, weighted=True),
                                   float(probs[2]), {r: r == "boundary" for r in regions}))
        if i >= args.deletion_n:
            continue
        # Every deletion image of this face is scored in one batch (faster than curve by curve).
        face_mask = region_masks(lm, crop.shape)["face"]
        jobs: list[tuple[str, str, str, float]] = []
        images: list[np.ndarray] = []
        for kind, syn, cam, p in (("local", loc, cams[0], probs[1]), ("self_blend", sb, cams[1], probs[2])):
            p0[kind].append(float(p))
            for fill_name, fill in (("blur", "blur"), ("restore", crop)):
                todo = [("cam", None)] + [("random", None), ("random_face", face_mask)] * args.random_repeats
                for mode, within in todo:
                    images += deletion_images(syn.image, cam, steps, "cam" if mode == "cam" else "random", rng,
                                              fill=fill, within=within)
                    jobs.append((kind, fill_name, mode, float(p)))
        scores = frame_fake_probability(predictor, images, batch=50).reshape(len(jobs), len(steps))
        per_face: dict[tuple[str, str, str], list[np.ndarray]] = defaultdict(list)
        for (kind, fill_name, mode, p), row in zip(jobs, scores):
            per_face[(kind, fill_name, mode)].append(np.concatenate([[p], row]))
        for (kind, fill_name, mode), rows in per_face.items():
            curves[(kind, fill_name)][mode].append(np.mean(rows, axis=0))
    return {
        "predictor": predictor, "source": source, "local": local, "seam": seam, "p_real": p_real,
        "curves": {k: {m: np.array(v) for m, v in c.items()} for k, c in curves.items()}, "p0": p0,
        "fractions": fractions, "seconds": time.perf_counter() - t0, "load": (load0, os.getloadavg()[0]),
    }


# ------------------------------------------------------------------------------ report


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _ci(lo: float, hi: float) -> str:
    return f"[{100 * lo:.1f}, {100 * hi:.1f}]"


@dataclass
class PointingStats:
    n: int
    hits: int
    wilson: tuple[float, float]
    uniform: float
    weighted: float
    favourite: str | None
    favourite_rate: float
    lift: float
    lift_ci: tuple[float, float]

    @property
    def rate(self) -> float:
        return self.hits / self.n if self.n else float("nan")


def pointing_stats(recs: list[PointingRecord], rng: np.random.Generator) -> PointingStats:
    from seethrough.explain.faithfulness import bootstrap_ci, wilson_interval

    n = len(recs)
    if n == 0:
        nan = float("nan")
        return PointingStats(0, 0, (nan, nan), nan, nan, None, nan, nan, (nan, nan))
    k = sum(r.hit for r in recs)
    uni = np.array([r.uniform for r in recs])
    tops = Counter(r.top for r in recs if r.top)
    fav = tops.most_common(1)[0][0] if tops else None
    fav_rate = float(np.mean([r.hits_by_region.get(fav, False) for r in recs])) if fav else float("nan")
    lift = np.array([r.hit for r in recs], float) - uni
    return PointingStats(n, k, wilson_interval(k, n), float(uni.mean()), float(np.mean([r.weighted for r in recs])),
                         fav, fav_rate, float(lift.mean()), bootstrap_ci(lift, rng))


@dataclass
class DeletionStats:
    n: int
    mean_curves: dict[str, np.ndarray]
    auc: dict[str, float]
    auc_detected: dict[str, float]
    n_detected: int
    diff: dict[str, tuple[float, float, float, float]]  # vs order: mean, lo, hi, share of fakes with CAM lower
    diff_detected: dict[str, tuple[float, float, float] | None]


ORDERS = {"cam": "CAM", "random": "random", "random_face": "random, face first"}


def deletion_stats(curves: dict[str, np.ndarray], p0: np.ndarray, fractions, rng: np.random.Generator) -> DeletionStats:
    from seethrough.explain.faithfulness import bootstrap_ci, deletion_auc

    aucs = {m: np.array([deletion_auc(fractions, y) for y in curves[m]]) for m in ORDERS}
    sel = p0 >= 0.5
    diff, diff_det = {}, {}
    for m in ("random", "random_face"):
        d = aucs["cam"] - aucs[m]
        diff[m] = (float(d.mean()), *bootstrap_ci(d, rng), float((d < 0).mean()))
        diff_det[m] = (float(d[sel].mean()), *bootstrap_ci(d[sel], rng)) if sel.sum() >= 5 else None
    return DeletionStats(
        len(curves["cam"]), {m: curves[m].mean(0) for m in ORDERS}, {m: float(a.mean()) for m, a in aucs.items()},
        {m: float(a[sel].mean()) if sel.any() else float("nan") for m, a in aucs.items()}, int(sel.sum()), diff, diff_det,
    )


KIND_TITLES = {"local": "Local blends", "self_blend": "Whole-face self-blends"}


def report(res: dict, args) -> str:
    import torch

    from seethrough.explain.faithfulness import wilson_interval

    predictor, source = res["predictor"], res["source"]
    local, seam, fr = res["local"], res["seam"], res["fractions"]
    rng = np.random.default_rng(args.seed + 1)
    info = predictor.info
    p_loc = np.array([r.p_fake for r in local])
    p_sb = np.array([r.p_fake for r in seam])
    p_real = np.array(res["p_real"])
    groups = {
        "local blends, all": local,
        "local blends the model calls fake (p >= 0.5)": [r for r in local if r.p_fake >= 0.5],
        "local blends it does not (p < 0.5)": [r for r in local if r.p_fake < 0.5],
        "whole-face self-blends (target: boundary)": seam,
    }
    ps = {name: pointing_stats(recs, rng) for name, recs in groups.items()}
    ds = {key: deletion_stats(c, np.array(res["p0"][key[0]]), fr, rng) for key, c in sorted(res["curves"].items())}

    all_loc, det_loc, sb = ps["local blends, all"], ps["local blends the model calls fake (p >= 0.5)"], ps[
        "whole-face self-blends (target: boundary)"]
    lines = [
        "# Faithfulness of the explanations (Grad-CAM on the frame head, region ranking)",
        "",
        "Generated by `bench/bench_faithfulness.py` "
        f"(`--n {args.n} --deletion-n {args.deletion_n} --seed {args.seed} --random-repeats {args.random_repeats}`).",
        "",
        "## Summary",
        "",
        f"- **Pointing game, local blends** (one facial region manipulated, n = {all_loc.n}): the top-ranked region "
        f"is a manipulated one in **{_pct(all_loc.rate)}** {_ci(*all_loc.wilson)} of fakes, against "
        f"{_pct(all_loc.uniform)} for a region picked at random ({_pct(all_loc.weighted)} area-weighted); on the "
        f"{det_loc.n} the model calls fake: **{_pct(det_loc.rate)}** {_ci(*det_loc.wilson)} vs {_pct(det_loc.uniform)}.",
        f"- **Whole-face self-blends** (n = {sb.n}): the top-ranked region is the `boundary` seam in {_pct(sb.rate)} "
        f"{_ci(*sb.wilson)} of fakes, against {_pct(sb.uniform)} at random: the maps point inside the face "
        "(which is changed too), not at the blending seam.",
    ]
    for (kind, fill), d in ds.items():
        lines.append(
            f"- **Deletion, {KIND_TITLES[kind].lower()}, {fill}** (n = {d.n}; AUC, lower = more faithful): "
            f"CAM {d.auc['cam']:.3f}, random {d.auc['random']:.3f}, random face-first {d.auc['random_face']:.3f}; "
            f"CAM - random {d.diff['random'][0]:+.3f} [{d.diff['random'][1]:+.3f}, {d.diff['random'][2]:+.3f}].")
    lines += [
        "",
        "## Setup",
        "",
        f"- Data: {source.description}.",
        f"- Faces: {len(source.faces)} aligned crops with 68 landmarks ({source.tried} images tried, "
        f"{source.failed} without a usable face were skipped); crop {predictor.size} px, margin {predictor.crop_margin}.",
        f"- Model: `{info['name']}` ({info['backbone']}, `{info['file']}`, sha256 {info['sha256'][:12]}).",
        f"- Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads; "
        f"whole run {res['seconds'] / 60:.1f} min; system load average {res['load'][0]:.1f} at the start, "
        f"{res['load'][1]:.1f} at the end ({os.cpu_count()} CPUs: a higher load means other jobs shared them).",
        "- Fakes, per real crop: one **local blend** (one of the ten part regions, cycled; a colour/contrast-shifted, "
        "blurred or sharpened, 1-3 px shifted copy of the face blended through the feathered region mask at "
        "opacity 0.8-1.0; `explain.faithfulness.local_blend`) and one **whole-face self-blend** (`synth.self_blend`).",
        "- Model's calibrated frame fake probability (mean; share >= 0.5): "
        f"real crops {p_real.mean():.3f} ({_pct((p_real >= 0.5).mean())}), "
        f"local blends {p_loc.mean():.3f} ({_pct((p_loc >= 0.5).mean())}), "
        f"whole-face self-blends {p_sb.mean():.3f} ({_pct((p_sb >= 0.5).mean())}).",
        "",
        "## 1. Pointing game: is the top-ranked region the manipulated one?",
        "",
        "Candidate regions are the ones the explanation ranks: ten part regions plus `boundary` (not `face`), "
        "each with >= 20 px. For a local blend a region counts as manipulated when >= 25% of its pixels have blend "
        "weight > 0.5: the blended region itself (it met the rule in "
        f"{sum(r.hits_by_region.get(r.region, False) for r in local)} of {len(local)} blends) and sometimes a "
        f"neighbour the feathering reaches ({np.mean([r.n_targets for r in local]):.2f} target regions on average). "
        "For a whole-face self-blend the only target is `boundary` (the seam): every inner region is changed, so "
        "\"overlaps the mask\" would be trivially true. **Hit** = the region ranked first by `region_scores` on the "
        "Grad-CAM map is a target (a map with no heat on the face ranks nothing and counts as a miss). Baselines are exact expectations over the "
        "same candidates: a region picked uniformly, picked in proportion to its area, and always naming the region "
        "the model ranks first most often. Hit rate with a 95% Wilson interval; lift over the uniform baseline with "
        "a 95% bootstrap interval.",
        "",
        "| fakes | n | hit rate [95% CI] | uniform random | area-weighted random | always the most frequent top region | lift vs uniform [95% CI] |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, st in ps.items():
        if st.n == 0:
            lines.append(f"| {name} | 0 | - | - | - | - | - |")
            continue
        lines.append(f"| {name} | {st.n} | **{_pct(st.rate)}** {_ci(*st.wilson)} | {_pct(st.uniform)} | "
                     f"{_pct(st.weighted)} | {_pct(st.favourite_rate)} (`{st.favourite}`) | "
                     f"{100 * st.lift:+.1f} pts {_ci(*st.lift_ci)} |")
    lines += [
        "",
        "### Local blends by manipulated region",
        "",
        "| blended region | n | hit rate [95% CI] | uniform random | area-weighted random | mean p(fake) | most frequent top region |",
        "|---|---|---|---|---|---|---|",
    ]
    by_region: dict[str, list[PointingRecord]] = defaultdict(list)
    for r in local:
        by_region[r.region].append(r)
    for region in sorted(by_region):
        recs = by_region[region]
        n, k = len(recs), sum(r.hit for r in recs)
        top = Counter(r.top or "(no heat on the face)" for r in recs).most_common(1)[0]
        lines.append(f"| {region} | {n} | {_pct(k / n)} {_ci(*wilson_interval(k, n))} | "
                     f"{_pct(np.mean([r.uniform for r in recs]))} | {_pct(np.mean([r.weighted for r in recs]))} | "
                     f"{np.mean([r.p_fake for r in recs]):.3f} | `{top[0]}` ({top[1]}/{n}) |")
    tops_loc = Counter(r.top or "(no heat on the face)" for r in local)
    tops_sb = Counter(r.top or "(no heat on the face)" for r in seam)
    lines += [
        "",
        "Where the top-ranked region falls (all fakes of each kind): local blends "
        + ", ".join(f"`{k}` {v}" for k, v in tops_loc.most_common())
        + "; whole-face self-blends " + ", ".join(f"`{k}` {v}" for k, v in tops_sb.most_common()) + ".",
        "",
        "## 2. Deletion curves",
        "",
        "The hottest k% of the crop's pixels are deleted and the model's calibrated frame fake probability is "
        "recomputed. Two ways to delete: **blur** (replace with a blurred copy of the fake, Gaussian sigma 5% of the "
        "side: the usual deletion metric) and **restore** (replace with the pixels of the real original: removes "
        "the manipulation where the map points, and nothing else). Orders: **CAM** (hottest Grad-CAM first), "
        "**random** (a random 7x7 map upsampled like a CAM, so deletions are blobs of the same smoothness; whole "
        "crop), **random, face first** (the same, pixels inside the face hull first). Random curves are averaged "
        f"over {args.random_repeats} map(s) per fake and order. AUC = area under the curve divided by the fraction "
        "span (the mean probability along it): **lower for CAM than random = the map points at pixels the score "
        "depends on**. Paired differences with 95% bootstrap intervals over fakes. For reference, the real "
        f"originals score {p_real.mean():.3f} on average.",
        "",
    ]
    for (kind, fill), d in ds.items():
        lines += [f"### {KIND_TITLES[kind]}, {fill} (n = {d.n})", "",
                  "| order | " + " | ".join(f"{int(round(100 * f))}%" for f in fr) + " | AUC | AUC, fakes with p >= 0.5 |",
                  "|---|" + "---|" * (len(fr) + 2)]
        for m, label in ORDERS.items():
            det = f"{d.auc_detected[m]:.3f} (n={d.n_detected})" if d.n_detected else "-"
            lines.append(f"| {label} | " + " | ".join(f"{v:.3f}" for v in d.mean_curves[m])
                         + f" | **{d.auc[m]:.3f}** | {det} |")
        lines.append("")
        for m in ("random", "random_face"):
            mean, lo, hi, share = d.diff[m]
            extra = ""
            if d.diff_detected[m] is not None:
                dm, dl, dh = d.diff_detected[m]
                extra = f"; on fakes with p >= 0.5: {dm:+.3f} [{dl:+.3f}, {dh:+.3f}]"
            lines.append(f"- AUC(CAM) - AUC({ORDERS[m]}) = {mean:+.3f} [{lo:+.3f}, {hi:+.3f}], CAM lower on "
                         f"{_pct(share)} of fakes{extra}.")
        lines.append("")
    lines += [
        "![deletion curves](faithfulness_deletion.png)",
        "",
        "## How to read this",
        "",
        "The pointing game asks whether the region the report names first is where the face was actually edited. "
        "A faithful explanation beats the random baselines clearly; \"always the most frequent top region\" shows "
        "what a fixed favourite region alone would score. It means most on fakes the model detects: on a fake it "
        "scores as real, the map explains weak evidence. The deletion curve asks whether the map's hot pixels are "
        "the ones the score depends on: deleting them should lower the fake probability faster than deleting random "
        "blobs of the same area (lower AUC). With **blur** the curves can *rise*: the model reads blurred patches "
        "as blending artefacts, so blur deletion adds evidence as it removes it; only the comparison between orders "
        "means something there. **Restore** has no such side effect (it puts the real pixels back), so it is the "
        "cleaner test on these fakes. All fakes here are blends, the kind of artefact the model was trained on "
        "(self-blended pseudo-fakes): the numbers say how well the maps localise that evidence, not how they "
        "behave on every deepfake method. The maps come from a 7x7 feature grid (32 px cells on a 224 px crop), "
        "so thin regions (brows, eyes, the boundary band) are hard to single out.",
        "",
    ]
    return "\n".join(lines)


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seethrough.explain.faithfulness import deletion_auc

    fr = 100 * np.asarray(res["fractions"])
    keys = sorted(res["curves"])
    if not keys:
        return
    kinds = sorted({k for k, _ in keys})
    fills = sorted({f for _, f in keys})
    fig, axes = plt.subplots(len(fills), len(kinds), figsize=(5.5 * len(kinds), 4 * len(fills)), squeeze=False)
    titles = {"local": "Local blends", "self_blend": "Whole-face self-blends"}
    styles = {"cam": ("CAM", "C3", "-"), "random": ("random", "C0", "--"), "random_face": ("random, face first", "C2", ":")}
    p_real = float(np.mean(res["p_real"]))
    for r, fill in enumerate(fills):
        for col, kind in enumerate(kinds):
            ax = axes[r][col]
            c = res["curves"].get((kind, fill))
            if c is None:
                ax.axis("off")
                continue
            for m, (label, colour, ls) in styles.items():
                y = c[m]
                auc = np.mean([deletion_auc(res["fractions"], v) for v in y])
                se = y.std(0) / np.sqrt(len(y))
                ax.plot(fr, y.mean(0), ls, color=colour, marker="o", label=f"{label} (AUC {auc:.3f})")
                ax.fill_between(fr, y.mean(0) - se, y.mean(0) + se, color=colour, alpha=0.15)
            ax.axhline(p_real, color="grey", lw=0.8, label=f"real originals ({p_real:.3f})")
            ax.set_title(f"{titles[kind]}, {fill} (n = {len(c['cam'])})")
            ax.set_xlabel("pixels deleted (%)")
            ax.set_ylabel("calibrated frame p(fake)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with labels.csv of face crops (real rows used)")
    ap.add_argument("--n", type=int, default=200, help="real faces to build fakes from")
    ap.add_argument("--deletion-n", type=int, default=40, help="of those, how many get deletion curves (slower)")
    ap.add_argument("--random-repeats", type=int, default=2, help="random maps averaged per random deletion curve")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", type=Path, default=None, help="checkpoint (default: the bundled model)")
    ap.add_argument("--groups", default="auto",
                    help="JSON list of groups to draw from; 'auto' = the DFDC test part of configs/benchmark_split.json")
    args = ap.parse_args()
    setup_logging()
    res = run(args)
    RESULTS.mkdir(exist_ok=True)
    plot(res, RESULTS / "faithfulness_deletion.png")
    text = report(res, args)
    (RESULTS / "faithfulness.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
