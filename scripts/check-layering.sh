#!/usr/bin/env bash
# Fails on an include that goes against ../shared/DESIGN.md's layering, or on a translation unit that sees
# both torch and protobuf/gRPC headers (torch ships its own protobuf). Usage: check-layering.sh [ROOT]
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
exec python3 - "$root" <<'PY'
import os, re, sys

root = sys.argv[1]
# Which project folders each folder may include (besides itself). tests/<x> may include what x may, plus x.
# reward may include model/ for the judge's tokenizer only: a torch-free folder that sees torch is an error.
ALLOWED = {
    "common": set(), "proto": {"common"}, "kernels": set(), "model": {"kernels", "common"},
    "rollout": {"model", "proto", "common", "kernels"}, "reward": {"proto", "common", "model", "agent"},
    "trainer": {"model", "proto", "common", "kernels", "agent"}, "agent": {"model", "common"},
}
TORCH_OK = {"model", "rollout", "trainer"}
TEST_EXTRA = {"services": ALLOWED["reward"], "gpu": set(ALLOWED), "scripts": set(),
              "fuzz": ALLOWED["reward"] | {"reward"}}  # fuzz targets: the torch-free parsers
TORCH = re.compile(r"^(torch|ATen|c10|caffe2)/")
PROTOBUF = re.compile(r"(\.pb\.h$|^grpcpp/|^grpc/|^google/protobuf/)")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')

def layer_of(rel):
    parts = rel.split("/")
    if parts[0] == "tests" and len(parts) > 2:
        sub = parts[1]
        if sub in ALLOWED:
            return sub, ALLOWED[sub] | {sub}, sub in TORCH_OK
        extra = TEST_EXTRA.get(sub, set())
        return "tests/" + sub, extra, sub == "gpu"
    if parts[0] in ALLOWED and len(parts) > 1:
        return parts[0], ALLOWED[parts[0]], parts[0] in TORCH_OK
    return None

files = {}
for folder in list(ALLOWED) + ["tests"]:
    for dirpath, _, names in os.walk(os.path.join(root, folder)):
        for name in names:
            if name.endswith((".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh")):
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                incs = []
                with open(os.path.join(root, rel), errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if m:
                            incs.append((lineno, m.group(2)))
                files[rel] = incs

errors = []
memo = {}
def sees(rel, stack=()):
    """(torch, protobuf): whether rel includes them, directly or through project headers."""
    if rel in memo:
        return memo[rel]
    torch = proto = False
    for _, inc in files.get(rel, []):
        torch |= bool(TORCH.match(inc))
        proto |= bool(PROTOBUF.search(inc))
        if inc in files and inc not in stack:
            t, p = sees(inc, stack + (rel,))
            torch, proto = torch or t, proto or p
    memo[rel] = (torch, proto)
    return memo[rel]

for rel, incs in sorted(files.items()):
    layer = layer_of(rel)
    if layer is None:
        continue
    name, allowed, torch_ok = layer
    own = name.split("/")[-1]
    for lineno, inc in incs:
        top = inc.split("/")[0]
        if top in ALLOWED and top != own and top not in allowed and "/" in inc:
            errors.append(f"{rel}:{lineno}: includes {inc}, but {name} may include only "
                          f"[{', '.join(sorted(allowed - {own})) or 'nothing of ours'}] (an upward or sideways include)")
        if TORCH.match(inc) and not torch_ok:
            errors.append(f"{rel}:{lineno}: includes torch header {inc}, but {name} must stay torch-free")
    torch, proto = sees(rel)
    if torch and not torch_ok and not any(TORCH.match(inc) for _, inc in incs):
        errors.append(f"{rel}: sees torch headers through project headers, but {name} must stay torch-free "
                      "(reward may use model/'s torch-free tokenizer and chat headers only)")
    if torch and proto:
        errors.append(f"{rel}: sees both torch and protobuf/gRPC headers (directly or through project headers); "
                      "torch ships its own protobuf: keep gRPC code in a torch-free file and pass plain structs")

for e in errors:
    print("layering: " + e)
if errors:
    print(f"layering: {len(errors)} violation(s) in {root}")
    sys.exit(1)
print(f"layering: ok ({len(files)} files)")
PY
