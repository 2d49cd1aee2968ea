#!/usr/bin/env bash
# Create .venv and install imrec into it. With --test, also the test tools and Chromium.
# Override the PyTorch pin with TORCH_SPEC (e.g. a CPU-only build, see the README).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '==> %s\n' "$*" >&2; }
step "creating .venv"
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [[ -z "${TORCH_SPEC:-}" && ! -e /dev/nvidia0 && ! -d /proc/driver/nvidia/gpus ]]; then
    step "no NVIDIA GPU here: the default PyTorch build brings 4 GB of CUDA libraries this machine never loads; TORCH_SPEC picks the CPU-only build (README, 'PyTorch without CUDA')"
fi
step "installing PyTorch (${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}); several GB with CUDA, minutes"
# shellcheck disable=SC2086
.venv/bin/python -m pip install ${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}
if [[ "${1:-}" == "--test" ]]; then
    step "installing imrec with its web and test extras"
    .venv/bin/python -m pip install -q -e '.[test]'
    if ! command -v chromium >/dev/null 2>&1; then
        if [[ $(id -u) == 0 ]]; then
            step "installing Debian's chromium for the browser test"
            apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
        else
            step "chromium is missing: 'sudo apt-get install chromium' to run the browser test (it is skipped otherwise)"
        fi
    fi
else
    step "installing imrec with its web and faces extras"
    .venv/bin/python -m pip install -q -e '.[web,faces]'
fi
step "done: .venv/bin/imrec is ready"
