#!/bin/bash
# The one prepared run for a lent GPU (the `device` tool: ~15 minutes a session, only the working
# tree travels, no network there). It trains the frame stage packed in .pack for $MINUTES minutes
# and brings back the checkpoint, its metrics and the log in $OUT. Never needed: the CPU recipe
# (configs/model_v3.yaml) is what the bundled model comes from.
#
# Here, before (the data is here, not there):
#   .venv/bin/seethrough pack-training -c configs/model_v4_sbi.yaml --out .pack     (40 MB)
#   bash scripts/gpu_train.sh --wheels                                               (pydantic for the
#        machine's Python 3.12 into .whl, with typing-extensions; it has PyTorch, timm, OpenCV, PyYAML,
#        tqdm, matplotlib, scikit-learn)
# There, as one call:  run  command="bash scripts/gpu_train.sh"  carry=[".pack", ".whl"]  timeout_s=600
# Here, after:  seethrough fit-head / calibrate with head.init_from = the returned model.pt, then
#   bench/bench_generalisation.py decides whether it ships.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--wheels" ]; then
    versions=$(.venv/bin/python -m pip list --format=freeze \
        | grep -i -E '^(pydantic|pydantic[-_]core|annotated[-_]types|typing[-_]inspection|typing[-_]extensions)==') \
        || { echo "no pydantic in .venv: run make install first" >&2; exit 2; }
    rm -rf .whl && mkdir -p .whl
    # shellcheck disable=SC2086
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl $versions
    ls .whl
    exit 0
fi

MINUTES=${MINUTES:-8}
OUT=${OUT:-runs/gpu}
mkdir -p "$OUT"
[ -f .pack/config.yaml ] || { echo "no .pack here: run seethrough pack-training first" >&2; exit 2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="$PWD/src:/tmp/site" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c "import torch, timm, cv2, pydantic, yaml, sklearn, matplotlib; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'timm', timm.__version__)"
python3 -m seethrough.training.pack .pack /tmp/run --minutes "$MINUTES" --workers "$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))" 2>&1 \
    | tr '\r' '\n' | grep -v '^frame stage: ' | tee "$OUT/train.log"
cp /tmp/run/model.pt /tmp/run/metrics_frames.csv /tmp/run/config.yaml "$OUT"/
cp /tmp/run/curves_frames.png "$OUT"/ 2>/dev/null || true
echo "brought back: $(ls "$OUT")"
