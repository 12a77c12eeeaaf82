#!/usr/bin/env python3
"""DeepSeekMath-V2 self-verification end to end on CPU (ctest proofs_end_to_end), on the built-in arithmetic
derivations (dsrl-agent-data task=proofs):
  1. the data: every verifier task's annotated score equals this file's own grader (written from the rules in
     docs/proofs.md, in Python) on its proof, rigorous or flawed, and every claim is true;
  2. stage lm on the cold start, then stage grpo through dsrl-rollout and dsrl-reward on a mixture of generator
     tasks (derivation_generator) and verifier tasks (proof_verifier): every sample is scored, with the
     math_generator, proof_score and math_verifier signals;
  3. stage refine (sequential refinement): every proof's true score from the reward service equals this file's
     grade of it; revisions happen exactly for chains not verified at 1; Pass@1 and Best@k per round, recomputed
     from the proofs, equal the summary and the printed table.
Usage: proofs_test.py MPIRUN DSRL_TRAIN DSRL_AGENT_DATA SOURCE_DIR"""
import ast
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from stage_runner import StageRunner  # noqa: E402

MPIRUN, TRAIN, AGENT_DATA, SOURCE = sys.argv[1:5]
LM_STEPS = int(os.environ.get("DSRL_PROOFS_LM_STEPS", "150"))
MARKER = "Here is my evaluation of the solution:"
runner = StageRunner(MPIRUN, TRAIN, SOURCE, ["--config", "configs/lm_proofs_tiny.yaml"], "dsrl_proofs_")
TMP = runner.tmp
data = f"{TMP}/proofs"
subprocess.run([AGENT_DATA, "--set", "task=proofs", "--set", f"out={data}", "--set", "count=300"], check=True)

# A second grader, independent of agent/derivations.cpp: Python's own parser, trees compared as tuples.
OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}


def to_tree(node):
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
            and type(node.operand.value) is int:
        return -node.operand.value
    if isinstance(node, ast.BinOp) and type(node.op) in OPS:
        left, right = to_tree(node.left), to_tree(node.right)
        return None if left is None or right is None else (OPS[type(node.op)], left, right)
    return None


def parse(text):
    # What the rules allow: integers (up to 12 digits; leading zeros read as in C), + - * and parentheses, a minus
    # sign only directly on a number.
    if len(text) > 400 or not re.fullmatch(r"[0-9+\-*() \t]*", text) or re.search(r"\d{13}", text) \
            or re.search(r"-\s*\(", re.sub(r"[0-9)]\s*-", "", text)):
        return None
    try:
        return to_tree(ast.parse(re.sub(r"\b0+(\d)", r"\1", text).strip(), mode="eval").body)
    except SyntaxError:
        return None


def value(t):
    if isinstance(t, int):
        return t
    a, b = value(t[1]), value(t[2])
    if a is None or b is None:
        return None
    v = a + b if t[0] == "+" else a - b if t[0] == "-" else a * b
    return v if abs(v) < 2**63 else None


def reductions(t):
    if isinstance(t, int):
        return []
    op, a, b = t
    out = [(op, x, b) for x in reductions(a)]
    if isinstance(a, int) and isinstance(b, int):
        out.append(value(t))
    return out + [(op, a, x) for x in reductions(b)]


def grade(claim, proof):
    expression, v = claim.rsplit("=", 1)
    previous, target = parse(expression), int(v)
    lines = [line.strip(" \t\r") for line in proof.split("\n") if line.strip(" \t\r")]
    if not lines:
        return 0.0
    score = 1.0
    for i, line in enumerate(lines):
        t = parse(line[1:] if line.startswith("=") else line)
        if t is None or value(t) is None:
            return 0.0
        if i == 0 and t == previous:
            continue
        if value(t) != target:
            return 0.0
        if t not in reductions(previous) and score == 1:
            score = 0.5
        previous = t
    return score if isinstance(previous, int) else 0.0


def read(path):
    return [json.loads(line) for line in open(path)]


# 1. The data.
verifier = read(f"{data}/verifier.jsonl")
runner.check("every verifier task's score is the grade of its proof",
             all(float(t["answer"]) == grade(t["problem"], t["proof"]) for t in verifier),
             [t for t in verifier if float(t["answer"]) != grade(t["problem"], t["proof"])][:2])
runner.check("the verifier tasks hold rigorous, skipped-step and wrong-step proofs",
             {float(t["answer"]) for t in verifier} == {0.0, 0.5, 1.0})
generator = read(f"{data}/generator.jsonl")
runner.check("every claim is true", all(value(parse(t["answer"].rsplit("=", 1)[0])) == int(t["answer"].rsplit("=")[1])
                                        for t in generator))
runner.check("three cold-start replies per claim", len(read(f"{data}/cold_start.jsonl")) == 3 * len(generator))

# 2. Stage lm, then GRPO on both roles through the services.
cold_start = f"data.sources=[{{path: {data}/cold_start.jsonl, format: jsonl, prompt_field: prompt, response_field: response}}]"
runner.train("lm", ranks=2, sets=[cold_start, f"train.steps={LM_STEPS}", "train.checkpoint_every=0"], timeout=900)
model = runner.model("lm")
SERVICES = ["--ranks", "1", "--workers", "1", "--rollout-config", "configs/rollout_agent.yaml",
            "--set", f"model.checkpoint={model}"]
tasks = (f"grpo.tasks=[{{task_type: derivation_generator, path: {data}/generator.jsonl}}, "
         f"{{task_type: proof_verifier, path: {data}/verifier.jsonl}}]")
runner.run_local("grpo", "configs/grpo_proofs_tiny.yaml",
                 SERVICES + [a for s in [tasks, "train.steps=1", "train.checkpoint_every=0", "grpo.eval_every=0",
                                         "grpo.eval_prompts=0", "grpo.prompts_per_step=4", "grpo.samples_per_prompt=4",
                                         "grpo.zero_variance=keep"] for a in ("--set", s)])
step = runner.metrics("grpo")[1]
runner.check("GRPO scores every sample of both roles",
             step["samples"] == 16 and step["samples_scored"] == 16
             and {"reward/math_generator", "reward/proof_score", "reward/math_verifier"} <= step.keys(),
             step)

# 3. Sequential refinement.
PROBLEMS, K, ROUNDS = 4, 4, 3
runner.run_local("refine", "configs/refine_proofs_tiny.yaml",
                 SERVICES + [a for s in [f"refine.tasks={data}/generator.jsonl", f"refine.problems={PROBLEMS}",
                                         f"refine.k={K}", f"refine.rounds={ROUNDS}", "refine.verifications=2"]
                             for a in ("--set", s)])
proofs = read(f"{TMP}/refine/refine_proofs.jsonl")
summary = read(f"{TMP}/refine/refine_summary.jsonl")
runner.check("every proof was scored", all(p["error"] == "" for p in proofs), [p["error"] for p in proofs][:3])


def proof_of(response):
    answer = response.rsplit("</think>", 1)[-1]
    at = answer.rfind(MARKER)
    return answer[:at] if at >= 0 and answer[:at].strip(" \t\r\n") else answer


runner.check("each proof is the response before its self-analysis",
             all(p["proof"] == proof_of(p["response"]) for p in proofs))
mismatched = [(p["problem"], p["proof"], p["true_score"]) for p in proofs if grade(p["problem"], p["proof"]) != p["true_score"]]
runner.check(f"the reward's true score equals this grader's on all {len(proofs)} proofs", not mismatched, mismatched[:3])
runner.check("verifier score is the mean of the verifications",
             all(len(p["verdicts"]) == 2 and abs(p["verifier_score"] - sum(p["verdicts"]) / 2) < 1e-12 for p in proofs))

current, rows_ok, revisions_ok = {}, True, True
for r in range(1, ROUNDS + 1):
    fresh = {(p["problem_index"], p["chain"]): p for p in proofs if p["round"] == r}
    if r == 1:
        revisions_ok &= len(fresh) == PROBLEMS * K
    else:
        expected = {key for key, p in current.items() if p["verifier_score"] < 1}
        revisions_ok &= set(fresh) == expected and all(p["revisions"] == current[key]["revisions"] + 1
                                                       for key, p in fresh.items())
    current.update(fresh)
    pass_at_1 = sum(p["true_score"] for p in current.values()) / (PROBLEMS * K)
    best = 0.0
    for q in range(PROBLEMS):
        chains = [current[(q, c)] for c in range(K)]
        best += max(chains, key=lambda p: p["verifier_score"])["true_score"]  # max keeps the first on ties
    row = summary[r - 1]
    rows_ok &= row["round"] == r and row["revised"] == len(fresh) and abs(row["pass_at_1"] - pass_at_1) < 1e-9 \
        and abs(row["best_at_k"] - best / PROBLEMS) < 1e-9
runner.check("round 1 writes k proofs per problem; later rounds revise exactly the chains not verified at 1",
             revisions_ok)
runner.check(f"Pass@1 and Best@{K} per round, recomputed from the proofs, equal the summary",
             rows_ok and len(summary) == ROUNDS, summary)
log = runner.log("refine")
table = [line.split() for line in log.splitlines() if re.match(r"\s+\d+\s+\d+\s+\d\.\d{3}", line)]
runner.check("the printed table has one row per round with the summary's numbers",
             [[int(t[0]), int(t[1]), float(t[2]), float(t[3])] for t in table]
             == [[s["round"], s["revised"], round(s["pass_at_1"], 3), round(s["best_at_k"], 3)] for s in summary],
             table)
print("\n" + "\n".join(line for line in log.splitlines() if line.startswith(("refinement:", "round ")) or
                       re.match(r"\s+\d+\s+\d+\s+\d\.\d{3}", line)))
runner.finish("self-verification")
