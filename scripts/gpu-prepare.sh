#!/usr/bin/env bash
# On the CPU machine, before sending work to the GPU machine: the gRPC packages (../shared/gpu/prepare.sh) and
# the GoogleTest sources and nlohmann/json headers (the GPU machine has neither) into the git-ignored .gpu-deps/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/../shared/gpu/prepare.sh"
[ -d /usr/src/googletest ] || scripts/install-deps.sh
rm -rf .gpu-deps/googletest && cp -r /usr/src/googletest .gpu-deps/googletest
rm -rf .gpu-deps/include && mkdir -p .gpu-deps/include && cp -r /usr/include/nlohmann .gpu-deps/include/
du -sh .gpu-deps
