#!/usr/bin/env bash
# Plants layering violations in a scratch tree and checks that check-layering.sh catches each one by name,
# and passes a clean tree. Usage: layering_test.sh path/to/check-layering.sh
set -uo pipefail
check=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fresh_tree() {
  rm -rf "$tmp/t" && mkdir -p "$tmp/t"/{common,proto,model,trainer,reward,rollout}
  echo '#include <string>' > "$tmp/t/common/ok.h"
  printf '#include "common/ok.h"\n#include <ATen/ATen.h>\n' > "$tmp/t/model/layer.h"
  printf '#include "model/layer.h"\n' > "$tmp/t/trainer/stage.cpp"
}

# expect_fail NAME PATTERN: the checker must fail and print PATTERN.
expect_fail() {
  local out
  if out=$("$check" "$tmp/t" 2>&1); then
    echo "FAIL $1: checker passed a planted violation"; failures=$((failures + 1))
  elif ! grep -q -- "$2" <<<"$out"; then
    echo "FAIL $1: checker failed but did not say '$2':"; echo "$out"; failures=$((failures + 1))
  else
    echo "ok   $1"
  fi
}

fresh_tree
if "$check" "$tmp/t" >/dev/null; then echo "ok   clean tree passes"; else echo "FAIL clean tree"; failures=$((failures + 1)); fi

fresh_tree; printf '#include "model/layer.h"\n' > "$tmp/t/common/bad.h"
expect_fail "upward include common -> model" "common/bad.h:1: includes model/layer.h"

fresh_tree; printf '#include "trainer/stage.h"\n' > "$tmp/t/rollout/engine.cpp"; touch "$tmp/t/trainer/stage.h"
expect_fail "rollout includes trainer" "rollout/engine.cpp:1: includes trainer/stage.h"

fresh_tree; printf '#include <torch/torch.h>\n' > "$tmp/t/reward/score.cpp"
expect_fail "torch in reward" "reward/score.cpp:1: includes torch header"

fresh_tree; printf '#include <ATen/ATen.h>\n#include "proto/rollout.grpc.pb.h"\n' > "$tmp/t/trainer/mixed.cpp"
expect_fail "torch and protobuf in one file" "trainer/mixed.cpp: sees both torch and protobuf"

fresh_tree; printf '#include "model/layer.h"\n#include <grpcpp/grpcpp.h>\n' > "$tmp/t/rollout/handler.cpp"
expect_fail "torch through a project header plus gRPC" "rollout/handler.cpp: sees both torch and protobuf"

fresh_tree; printf '#include "model/layer.h"\n' > "$tmp/t/reward/judge.cpp"
expect_fail "torch reaching reward through a model header" "reward/judge.cpp: sees torch headers through project headers"

fresh_tree; printf '#include <string>\n' > "$tmp/t/model/tokenizer.h"; printf '#include "model/tokenizer.h"\n' > "$tmp/t/reward/judge.cpp"
if "$check" "$tmp/t" >/dev/null; then echo "ok   reward may use a torch-free model header"; else echo "FAIL reward + torch-free model header"; failures=$((failures + 1)); fi

if [ $failures -gt 0 ]; then echo "$failures layering test(s) failed"; exit 1; fi
echo "all layering tests passed"
