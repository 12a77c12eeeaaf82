"""Runs dsrl-train stages for the end-to-end tests: mpirun command lines, logs, metrics and checks."""
import json
import subprocess
import sys
import tempfile


class StageRunner:
    def __init__(self, mpirun, train, source, base, prefix):
        self.mpirun, self.train_bin, self.source, self.base = mpirun, train, source, base
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.failures = []

    def train(self, run, ranks=1, sets=(), resume=False, background=False, expect_exit=0, timeout=300):
        """Runs dsrl-train into <tmp>/<run> (log <tmp>/<run>.log); returns the process when background."""
        cmd = [self.mpirun, "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), self.train_bin] + self.base
        cmd += ["--set", f"run_dir={self.tmp}/{run}"] + [a for s in sets for a in ("--set", s)]
        cmd += ["--resume"] if resume else []
        log = open(f"{self.tmp}/{run}.log", "a")
        proc = subprocess.Popen(cmd, cwd=self.source, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if background:
            return proc
        if proc.wait(timeout=timeout) != expect_exit:
            sys.exit(f"FAIL: {' '.join(cmd)} exited {proc.returncode}, expected {expect_exit}:\n" + self.log(run))
        return None

    def kill_after_step(self, proc, run, step, timeout=300):
        """SIGKILLs proc's process group (started with its own session) as soon as <tmp>/<run>/metrics.jsonl has a
        row for `step` or later; returns the last step logged."""
        import os
        import signal
        import time
        deadline = time.time() + timeout
        logged = lambda: max(self.metrics(run), default=0) if os.path.exists(f"{self.tmp}/{run}/metrics.jsonl") else 0
        while time.time() < deadline and proc.poll() is None:
            if logged() >= step:
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        proc.wait()
        return logged()

    def log(self, run):
        return open(f"{self.tmp}/{run}.log").read()

    def run_local(self, run, config, args, timeout=900):
        """scripts/run-local.sh CONFIG ARGS into <tmp>/<run> (log <tmp>/<run>.log), with the services from the
        build dsrl-train is in; exits with the log's end on failure."""
        import os
        build = os.path.dirname(os.path.dirname(self.train_bin))
        cmd = [f"{self.source}/scripts/run-local.sh", config] + list(args) + ["--set", f"run_dir={self.tmp}/{run}"]
        with open(f"{self.tmp}/{run}.log", "a") as log:
            code = subprocess.run(cmd, cwd=self.source, stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
                                  env=dict(os.environ, DSRL_BUILD_DIR=build)).returncode
        if code != 0:
            sys.exit(f"FAIL: {' '.join(cmd)} exited {code}:\n" + self.log(run)[-4000:])

    def metrics(self, run):
        """metrics.jsonl as {step: row}: a step's rows (training, evaluation) merged; a resumed run appends, so
        later lines win."""
        rows = {}
        for line in open(f"{self.tmp}/{run}/metrics.jsonl"):
            row = json.loads(line)
            rows.setdefault(row["step"], {}).update(row)
        return rows

    def losses(self, run, key="loss"):
        return {step: row[key] for step, row in self.metrics(run).items()}

    def model(self, run):
        """The newest checkpoint's model folder of a run."""
        import os
        ckpts = sorted(os.listdir(f"{self.tmp}/{run}/checkpoints"))
        return f"{self.tmp}/{run}/checkpoints/{ckpts[-1]}/model"

    def check(self, name, ok, detail=""):
        print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
        if not ok:
            self.failures.append(name)

    def finish(self, what):
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.failures:
            sys.exit(f"{len(self.failures)} failed")
        print(f"all {what} checks passed")
