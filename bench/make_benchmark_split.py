"""Write configs/benchmark_split.json: which groups of ../shared/data are held out.

Run once; the file is committed so that every commit is measured on the same groups.
Three parts per dataset: ``test`` (the benchmark; never trained, fine-tuned, calibrated
or thresholded on), ``calib`` (temperature, thresholds and abstention gates are fitted
here, never on the benchmark) and everything else (training).

- dfdc_faces: the 800 groups (source videos) the shipped model (v1) held out
  (``group_split(groups, 0.1, seed=0)`` of its recipe) are the test part, so v1 and
  later models are compared on groups neither has seen; no DFDC group is used to
  calibrate (calibration is on sources outside the training sources).
- real_videos: identity W011 (MEAD) and the LivePortrait driver d10, v1's held-out identities.
- cross_source: whole source repositories (``group``), chosen so that every fake family and
  photos, webcam, studio video and old/low-quality photos are on the test side.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from seethrough.training.data import group_split  # noqa: E402

DATA = ROOT.parent / "shared" / "data"

CROSS_TEST = [
    # face swap
    "iperov/DeepFaceLab", "neuralchen/SimSwap", "mapooon/BlendFace", "GGGHSL/InfoSwap-master",
    # reenactment
    "ds-praveenkumar/first-order-image-animation", "Grim-R3ap3r/FakeFace-VideGenerator",
    "GadhaPremadasan/FSRT", "harlanhong/CVPR2022-DaGAN",
    # talking head
    "yzhou359/MakeItTalk", "Zebrushka/speech-driven-animation", "yerfor/GeneFace", "yerfor/Real3DPortrait",
    # lip sync
    "saifhassan/Wav2Lip-HD", "primepake/wav2lip_288x288",
    # GAN
    "ZhuoxuanZhangHarry/AgeGAN-FaceEvolution", "NVlabs/stylegan2", "tkarras/progressive_growing_of_gans",
    # diffusion
    "antgroup/echomimic_v2", "junjiehe96/UniPortrait",
    # editing
    "yuval-alaluf/SAM", "genforce/interfacegan", "yunjey/stargan",
    # real photos: news/web (LFW), old and low-quality, detector samples, high-resolution portraits
    "mmehdig/guesswho_lfw", "sczhou/CodeFormer", "davisking/dlib", "ageitgey/face_recognition",
    "Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB", "dchen236/FairFace", "cmusatyalab/openface",
    # real video: studio corpora, webcam and phone, stock, movie crops, 1080p
    "rizkiarm/LipNet", "sibozhang/Text2Video", "Mounish2311/Driver-Drowsiness-Detection",
    "Fellway/Closed_eyes_detector", "vdotup/blink-detection", "johndpope/VASA-1-hack",
    "Zielon/metrical-tracker", "kleinlee/MiniMates", "astorfi/lip-reading-deeplearning",
]
CROSS_CALIB = [
    # fakes of every family but GAN-only editing
    "ai-forever/ghost", "e4s2022/e4s", "xuehy/HiFiFace-pytorch", "Zejun-Yang/AniPortrait",
    "haroon001/wav2lipHQ_alethea_ai", "tencent-ailab/IP-Adapter", "NVlabs/stylegan",
    "kairess/Thin-Plate-Spline-Motion-Model", "Hangz-nju-cuhk/Talking-Face-Generation-DAVS",
    # real photos and videos
    "chandrikadeb7/Face-Mask-Detection", "andrew-valentin/HumanFaceImageGenerator", "yfeng95/DECA",
    "justadudewhohacks/face-api.js", "smahesh29/Gender-and-Age-Detection", "TencentARC/GFPGAN",
    "FuxiVirtualHuman/styletalk", "williamyang1991/StyleGANEX", "sreejithr/deepfake",
    "instant-high/Face-landmark-and-face-mask-ONNX", "sky24h/Face_Animation_Real_Time", "cleardusk/3DDFA",
]


def main() -> None:
    with open(DATA / "dfdc_faces" / "labels.csv", newline="") as fh:
        groups = [r["group"] for r in csv.DictReader(fh)]
    _, va = group_split(groups, 0.1, 0)
    dfdc_test = sorted({groups[i] for i in va})
    with open(DATA / "cross_source" / "labels.csv", newline="") as fh:
        known = {r["group"] for r in csv.DictReader(fh)}
    unknown = sorted(set(CROSS_TEST + CROSS_CALIB) - known)
    if unknown or set(CROSS_TEST) & set(CROSS_CALIB):
        raise SystemExit(f"bad cross_source groups: {unknown or sorted(set(CROSS_TEST) & set(CROSS_CALIB))}")
    split = {
        "version": 1,
        "about": __doc__.strip().splitlines()[0],
        "datasets": {
            "dfdc_faces": {"group_column": "group", "test": dfdc_test, "calib": []},
            "real_videos": {"group_column": "identity", "test": ["W011", "lp_d10"], "calib": []},
            "cross_source": {"group_column": "group", "test": sorted(CROSS_TEST), "calib": sorted(CROSS_CALIB)},
        },
    }
    out = ROOT / "configs" / "benchmark_split.json"
    out.write_text(json.dumps(split, indent=1) + "\n")
    print(f"wrote {out}: dfdc test {len(dfdc_test)} groups, cross_source test {len(CROSS_TEST)}, calib {len(CROSS_CALIB)}")


if __name__ == "__main__":
    main()
