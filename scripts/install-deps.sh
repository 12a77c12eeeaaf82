#!/usr/bin/env bash
# Installs what dsrl needs to build and test on a Debian/Ubuntu machine. Idempotent: when everything is present
# it only checks and returns in about a second. Safe to run as root (CI) or with sudo available.
#   Debian packages: compilers' friends (ninja, ccache), gRPC++/protobuf, yaml-cpp, spdlog, Open MPI, GoogleTest,
#   openssl (test certificates), clang with its sanitizer and libFuzzer runtimes (scripts/sanitize.sh).
#   LibTorch: from the pip wheel torch==$DSRL_TORCH_VERSION (the GPU machine's version), found by CMake through
#   torch.utils.cmake_prefix_path.
set -euo pipefail
TORCH_VERSION=${DSRL_TORCH_VERSION:-2.11.0}
TRANSFORMERS_VERSION=${DSRL_TRANSFORMERS_VERSION:-5.17.0}  # the GPU machine's version
PY=${PYTHON:-python3}

debs=(ninja-build ccache cmake g++ pkg-config
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
      libyaml-cpp-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
      libopenmpi-dev openmpi-bin
      libgtest-dev libgmock-dev
      openssl   # the TLS tests make a self-signed certificate with it
      clang libclang-rt-14-dev)  # scripts/sanitize.sh: ASan/UBSan and libFuzzer (Debian 12's clang 14)

missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[install-deps] installing Debian packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

have_torch=$($PY -c 'import torch; print(torch.__version__)' 2>/dev/null || true)
if [ "${have_torch%%+*}" != "$TORCH_VERSION" ]; then
  echo "[install-deps] installing torch==$TORCH_VERSION from PyPI (LibTorch for C++; a few GB with its CUDA wheels)"
  $PY -m pip install -q --root-user-action=ignore "torch==$TORCH_VERSION"
  have_torch=$($PY -c 'import torch; print(torch.__version__)' 2>/dev/null)
fi
# Python side of the cross-checks: HF transformers / tokenizers produce the reference numbers the tests compare to;
# TensorBoard's own reader checks our event files.
if ! $PY -c 'import transformers, tokenizers, safetensors, tensorboard' 2>/dev/null; then
  echo "[install-deps] installing transformers==$TRANSFORMERS_VERSION (reference for the cross-check tests)"
  $PY -m pip install -q --root-user-action=ignore "transformers==$TRANSFORMERS_VERSION" tokenizers safetensors tensorboard
fi
# The demo's reward/KL plot (scripts/plot-grpo.py).
if ! $PY -c 'import matplotlib' 2>/dev/null; then
  echo "[install-deps] installing matplotlib (the demo's plot)"
  $PY -m pip install -q --root-user-action=ignore matplotlib
fi
echo "[install-deps] ok: torch $have_torch"
