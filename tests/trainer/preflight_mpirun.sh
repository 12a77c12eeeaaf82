#!/usr/bin/env bash
# dsrl-train stage preflight under mpirun with 2 ranks against live dsrl-rollout and dsrl-reward processes:
# passes when everything answers, fails (non-zero, naming the endpoint) when one endpoint is down.
# Usage: preflight_mpirun.sh MPIRUN DSRL_TRAIN DSRL_ROLLOUT DSRL_REWARD SOURCE_DIR
set -uo pipefail
mpirun=$1 train=$2 rollout=$3 reward=$4 source=$5
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$rollout" --set model.config="$source/configs/model/tiny.yaml" --set server.port_file="$tmp/rollout.port" 2>"$tmp/rollout.log" & pids+=($!)
"$reward" --set server.port_file="$tmp/reward.port" 2>"$tmp/reward.log" & pids+=($!)
for f in rollout reward; do
  for _ in $(seq 200); do [ -s "$tmp/$f.port" ] && break; sleep 0.05; done
  [ -s "$tmp/$f.port" ] || fail "dsrl-$f did not start: $(cat "$tmp/$f.log")"
done
rport=$(cat "$tmp/rollout.port") wport=$(cat "$tmp/reward.port")

run() {  # run RUN_DIR EXTRA_SET...
  local dir=$1; shift
  "$mpirun" --allow-run-as-root --oversubscribe -np 2 "$train" --set run_dir="$dir" \
    --set preflight.allreduce_mb=1 --set preflight.deadline_s=3 "$@" >"$dir.log" 2>&1
}

run "$tmp/ok" --set "preflight.rollout_endpoints=[127.0.0.1:$rport]" --set "preflight.reward_endpoints=[127.0.0.1:$wport]" \
  || fail "preflight failed with live services: $(cat "$tmp/ok.log")"
grep -q '"ranks":2,"backend":"mpi","allreduce_ok":true' "$tmp/ok/metrics.jsonl" || fail "metrics: $(cat "$tmp/ok/metrics.jsonl")"
grep -q '\[r1\] \[trainer\]' "$tmp/ok.log" || fail "rank 1 did not log with its rank tag: $(cat "$tmp/ok.log")"
grep -q 'preflight passed: 2 ranks, 2 endpoints' "$tmp/ok.log" || fail "no pass line: $(cat "$tmp/ok.log")"
echo "ok   preflight passes with 2 ranks and live services"

# A reward service that takes TLS and a token: preflight passes with client_auth, fails without the token.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1 || fail "openssl could not make a test certificate"
echo "preflight-secret" > "$tmp/token"
"$reward" --set server.port_file="$tmp/secure.port" --set server.token_file="$tmp/token" \
  --set server.tls_cert_file="$tmp/cert.pem" --set server.tls_key_file="$tmp/key.pem" 2>"$tmp/secure.log" & pids+=($!)
for _ in $(seq 200); do [ -s "$tmp/secure.port" ] && break; sleep 0.05; done
sport=$(cat "$tmp/secure.port")
run "$tmp/secure" --set "preflight.reward_endpoints=[127.0.0.1:$sport]" --set client_auth.token_file="$tmp/token" \
  --set client_auth.tls_ca_file="$tmp/cert.pem" || fail "preflight failed with TLS and the token: $(cat "$tmp/secure.log")"
if run "$tmp/notoken" --set "preflight.reward_endpoints=[127.0.0.1:$sport]" --set client_auth.tls_ca_file="$tmp/cert.pem"; then
  fail "preflight passed without the token"
fi
grep -q "FAILED: UNAUTHENTICATED" "$tmp/notoken.log" || fail "missing token not reported: $(cat "$tmp/notoken.log")"
echo "ok   preflight with TLS and a token; refused without the token"

kill "${pids[1]}"; wait "${pids[1]}" 2>/dev/null
if run "$tmp/down" --set "preflight.reward_endpoints=[127.0.0.1:$wport]"; then fail "preflight passed with the reward service down"; fi
grep -q "reward 127.0.0.1:$wport FAILED: UNAVAILABLE" "$tmp/down.log" || fail "down endpoint not named: $(cat "$tmp/down.log")"
echo "ok   preflight fails and names the endpoint that is down"
