#!/usr/bin/env bash
# Create .venv and install imrec into it. With --test, also the test tools and Chromium.
# Override the PyTorch pin with TORCH_SPEC (e.g. TORCH_SPEC="torch torchvision").
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# shellcheck disable=SC2086
.venv/bin/python -m pip install -q ${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}
if [[ "${1:-}" == "--test" ]]; then
    .venv/bin/python -m pip install -q -e '.[test]'
    if ! command -v chromium >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
        apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
    fi
else
    .venv/bin/python -m pip install -q -e '.[web]'
fi
