#!/usr/bin/env bash
# Everything one short GPU session should check, in one run (about 6 minutes on an H100):
# the CUDA tests (nvJPEG decode vs Pillow), ViT-L-14 end to end with each decode route
# (workers, device, auto) beside the model-only ceiling on two corpora (the phone mix of
# benchmarks/corpus.py: 12 MP JPEGs, progressive, HEIC, PNG screenshots; and 1.5 MP
# baseline JPEGs), each route's vectors against OpenCLIP's reference preprocessing, and how
# far fp16/bf16 move the vectors. Default batch (0 = 256 on CUDA) and default settings.
#
#   benchmarks/gpu_session.sh              # torch, torchvision and imrec's dependencies installed
#   benchmarks/gpu_session.sh WHEEL_DIR    # first install the wheels in WHEEL_DIR, for a GPU machine
#                                          # without package access that has torch and torchvision
#
# Preparing WHEEL_DIR elsewhere (for the GPU machine's Python, here 3.12):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d WHEEL_DIR \
#       open_clip_torch ftfy wcwidth faiss-cpu pillow-heif pytest pluggy iniconfig packaging
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
if [ -n "${1:-}" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/imrec-site "$1"/*.whl
    export PYTHONPATH="/tmp/imrec-site:$PYTHONPATH"
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -m pytest -q -p no:cacheprovider tests/test_device_decode.py -k cuda \
    || echo "gpu_session: the CUDA tests failed or could not run (see above)"
echo "== phone-like library (12 MP JPEGs, progressive, HEIC, PNG screenshots)"
python3 benchmarks/bench_embed.py --device cuda --model ViT-L-14 --corpus phone --images 1440 \
    --batch 0 --decode-modes workers,device,auto --model-seconds 10
echo "== 1.5 MP baseline JPEGs"
python3 benchmarks/bench_embed.py --device cuda --model ViT-L-14 --images 6000 --synthetic-mp 1.5 \
    --batch 0 --decode-modes workers,auto --model-seconds 10
python3 benchmarks/check_precision.py --model ViT-L-14 --device cuda --precisions fp16 bf16
