#!/usr/bin/env bash
# Configures (once) and builds dsrl into build/ (or $DSRL_BUILD_DIR) with Ninja and ccache.
# Usage: scripts/build.sh [ninja targets...]     (no targets: everything, tests included)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${DSRL_BUILD_DIR:-$root/build}
# ccache keys on paths relative to the checkout, so a fresh clone elsewhere (CI) still hits the cache.
export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${DSRL_CMAKE_ARGS:-} \
    > "$build.cmake.log" 2>&1 || { cat "$build.cmake.log"; exit 1; }
fi
jobs=${DSRL_JOBS:-$(nproc)}
ninja -C "$build" -j "$jobs" "$@"
