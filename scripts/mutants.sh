#!/usr/bin/env bash
# The mutant table: every mutant in models/mutants/ must be caught.
#
#   bash scripts/mutants.sh                 # all mutants, on the working tree
#   bash scripts/mutants.sh --rev HEAD      # on a commit instead (git archive)
#   bash scripts/mutants.sh hm-walk-next-relaxed ...   # only these mutants
#   bash scripts/mutants.sh --check         # only check that every mutant applies
#   bash scripts/mutants.sh --no-doc        # do not rewrite docs/mutants.md
#
# Each mutant (models/mutants/NAME.mutant, format in models/mutants/README.md)
# is a find/replace of exact text in one or more files, plus the tests
# expected to catch it. For every mutant the script, in a copy of the tree at
# target/mutants-work/tree:
#
#   1. applies it (each `find` text must occur exactly once, else the mutant
#      is STALE and the script stops before building anything);
#   2. builds the named tests, each suite in its own persistent target folder
#      (target/mutants-<suite>), so a rebuild recompiles only the two crates;
#      a build failure makes the mutant BROKEN;
#   3. runs the named tests one at a time, each under a timeout, until one
#      FAILS: that test caught it. A test that passes, times out or is not
#      found does not catch it; a mutant that no test caught SURVIVED;
#   4. restores the files.
#
# Before any mutant, every named test runs once on the unmutated tree and
# must pass (else a catch would prove nothing): BASELINE failures stop the
# script. At the end it prints the table and, for a full run without
# --no-doc, writes it to docs/mutants.md. Exit status: 0 iff every mutant was caught; 1 if some
# survived or broke; 2 on a stale mutant or a baseline failure.
#
# Needs bash, git, tar, timeout and python3 (the table logic is Python).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "$@" <<'PYTHON'
import json, os, re, shutil, signal, subprocess, sys, time

ROOT = os.getcwd()
MUTANTS = os.path.join(ROOT, "models", "mutants")
WORK = os.path.join(ROOT, "target", "mutants-work")
TREE = os.path.join(WORK, "tree")
LOGS = os.path.join(WORK, "logs")
DOC = os.path.join(ROOT, "docs", "mutants.md")
DEFAULT_TIMEOUT = int(os.environ.get("KOVAN_MAP_MUTANT_TIMEOUT", "300"))

# suite -> (cargo arguments, RUSTFLAGS, target folder)
SUITES = {
    "loom": (["-p", "kovan-map-models", "--release"], "--cfg kovan_map_loom", "loom"),
    "shuttle": (["-p", "kovan-map-models", "--release", "--features", "shuttle"], "", "shuttle"),
    "shuttle-model": (
        ["-p", "kovan-map-models", "--release", "--features", "shuttle-model"],
        "",
        "shuttle-model",
    ),
    # real threads, histories checked by the linearizability checker
    "checker": (["-p", "kovan-map-models", "--release"], "", "release"),
    # real threads, the root crate's stress tests
    "stress": (["-p", "kovan-map", "--release"], "", "release"),
}


def die(code, message):
    print(f"mutants: {message}", file=sys.stderr)
    sys.exit(code)


class Mutant:
    """One models/mutants/*.mutant file, parsed."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)[: -len(".mutant")]
        self.summary = None
        self.covers = None
        self.tests = []  # (suite, binary, test name, timeout)
        self.env = {}  # extra environment of its test runs (and their baseline)
        self.edits = []  # (file, find, replace)
        self.parse(open(path, encoding="utf-8").read().split("\n"))

    def fail(self, lineno, message):
        die(2, f"{self.path}:{lineno}: {message}")

    def parse(self, lines):
        file = None
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            if not line.strip() or line.startswith("#"):
                continue
            if line == "<<< find":
                if file is None:
                    self.fail(i, "a `<<< find` block before any `file:` line")
                find, i = self.block(lines, i, "=== replace")
                replace, i = self.block(lines, i, ">>> end")
                if find == replace:
                    self.fail(i, "the replacement equals the text it replaces")
                self.edits.append((file, find, replace))
                continue
            key, sep, value = line.partition(":")
            value = value.strip()
            if not sep or not value:
                self.fail(i, f"expected `key: value`, found {line!r}")
            if key == "summary":
                self.summary = value
            elif key == "covers":
                self.covers = value
            elif key == "file":
                file = value
            elif key == "env":
                name, eq, setting = value.partition("=")
                if not eq or not name:
                    self.fail(i, "expected `env: NAME=value`")
                self.env[name] = setting
            elif key == "test":
                words = value.split()
                if len(words) not in (3, 4) or words[0] not in SUITES:
                    self.fail(i, "expected `test: <suite> <test binary> <test name> [timeout s]`"
                              f" with a suite among {', '.join(SUITES)}")
                timeout = int(words[3]) if len(words) == 4 else DEFAULT_TIMEOUT
                self.tests.append((words[0], words[1], words[2], timeout))
            else:
                self.fail(i, f"unknown key {key!r}")
        if not self.summary or not self.covers:
            self.fail(0, "needs a `summary:` and a `covers:` line")
        if not self.tests:
            self.fail(0, "names no test to catch it")
        if not self.edits:
            self.fail(0, "changes nothing (no `<<< find` block)")

    def block(self, lines, i, end):
        start = i
        while i < len(lines) and lines[i] != end:
            i += 1
        if i == len(lines):
            self.fail(start, f"unterminated block (no `{end}` line)")
        return "\n".join(lines[start:i]), i + 1

    def apply(self, tree):
        """The mutated contents of every file it edits, or a STALE reason."""
        contents = {}
        for file, find, replace in self.edits:
            path = os.path.join(tree, file)
            if file not in contents:
                if not os.path.exists(path):
                    return None, f"{file} does not exist"
                contents[file] = open(path, encoding="utf-8").read()
            n = contents[file].count(find)
            if n != 1:
                first = find.strip().split("\n")[0].strip()
                return None, f"{file}: the text to replace occurs {n} times (want 1): {first!r}"
            contents[file] = contents[file].replace(find, replace)
        return contents, None


def load_mutants(names):
    files = sorted(f for f in os.listdir(MUTANTS) if f.endswith(".mutant"))
    mutants = [Mutant(os.path.join(MUTANTS, f)) for f in files]
    if names:
        known = {m.name for m in mutants}
        for n in names:
            if n not in known:
                die(2, f"no mutant named {n!r} in models/mutants/")
        mutants = [m for m in mutants if m.name in names]
    return mutants


def make_tree(rev):
    """A fresh copy of the working tree (or of `rev`) at TREE. Fresh mtimes,
    so cargo rebuilds the two crates once (a stale mutant build is never
    mistaken for a clean one)."""
    shutil.rmtree(TREE, ignore_errors=True)
    os.makedirs(TREE)
    if rev:
        archive = subprocess.Popen(["git", "archive", rev], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-xmf", "-", "-C", TREE], stdin=archive.stdout, check=True)
        if archive.wait() != 0:
            die(2, f"git archive {rev} failed")
    else:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "-co", "--exclude-standard"],
            capture_output=True, check=True).stdout.split(b"\0")
        present = b"\0".join(p for p in listed if p and os.path.lexists(p.decode()))
        pack = subprocess.Popen(["tar", "--null", "-T", "-", "-cf", "-"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        unpack = subprocess.Popen(["tar", "-xmf", "-", "-C", TREE], stdin=pack.stdout)
        pack.stdin.write(present)
        pack.stdin.close()
        if pack.wait() != 0 or unpack.wait() != 0:
            die(2, "copying the working tree failed")


def cargo_env(suite):
    _, rustflags, target = SUITES[suite]
    env = dict(os.environ)
    env["RUSTFLAGS"] = rustflags
    env["CARGO_TARGET_DIR"] = os.path.join(ROOT, "target", f"mutants-{target}")
    # Rebuilds after a one-line change: incremental, no debug info.
    env["CARGO_PROFILE_RELEASE_INCREMENTAL"] = "true"
    env["CARGO_PROFILE_RELEASE_DEBUG"] = "0"
    env["RUST_BACKTRACE"] = "0"
    env.pop("CARGO_BUILD_RUSTFLAGS", None)
    return env


def build(suite, binaries, log):
    """Builds the test binaries of one suite; {binary: executable} or None."""
    args, _, _ = SUITES[suite]
    cmd = ["cargo", "test", "--locked", *args, "--no-run", "--message-format=json-render-diagnostics"]
    for b in sorted(binaries):
        cmd += ["--test", b]
    with open(log, "a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        done = subprocess.run(cmd, cwd=TREE, env=cargo_env(suite), stdout=subprocess.PIPE,
                              stderr=out, stdin=subprocess.DEVNULL, text=True)
    if done.returncode != 0:
        return None
    exes = {}
    for line in done.stdout.splitlines():
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        target = message.get("target", {})
        if message.get("executable") and "test" in target.get("kind", []):
            exes[target["name"]] = message["executable"]
    missing = set(binaries) - set(exes)
    if missing:
        die(2, f"{suite}: no test binary named {', '.join(sorted(missing))}")
    return exes


def run_test(exe, name, timeout, log, env):
    """'pass', 'fail', 'timeout' or 'missing' (no test of that exact name)."""
    cmd = [exe, "--exact", name, "--test-threads=1"]
    with open(log, "a") as out:
        out.write(f"$ {' '.join(f'{k}={v}' for k, v in env.items())} {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(cmd, cwd=os.path.dirname(exe), stdout=subprocess.PIPE,
                                env={**os.environ, "RUST_BACKTRACE": "0", **env},
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, text=True, errors="replace")
        try:
            text, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            text, _ = proc.communicate()
            out.write(text + f"\n[timed out after {timeout} s]\n")
            return "timeout"
        out.write(text + f"\n[exit status {proc.returncode}]\n")
    if proc.returncode == 0:
        return "pass" if re.search(r"test result: ok\. 1 passed", text) else "missing"
    # A failing test, or a test process killed by the failure it found (an
    # abort on a double free under kovan is a failure too).
    return "fail"


def binaries_by_suite(tests):
    by_suite = {}
    for suite, binary, _, _ in tests:
        by_suite.setdefault(suite, set()).add(binary)
    return by_suite


def baseline(mutants):
    """Every named test passes on the unmutated tree."""
    tests = sorted({(s, b, n) for m in mutants for (s, b, n, _) in m.tests})
    timeouts, envs = {}, {}
    for m in mutants:
        for s, b, n, t in m.tests:
            timeouts[(s, b, n)] = max(t, timeouts.get((s, b, n), 0))
            envs.setdefault((s, b, n), {}).update(m.env)
    log = os.path.join(LOGS, "baseline.log")
    bad = []
    for suite, binaries in sorted(binaries_by_suite([(s, b, n, 0) for s, b, n in tests]).items()):
        started = time.monotonic()
        exes = build(suite, binaries, log)
        if exes is None:
            die(2, f"BASELINE: the unmutated tree does not build for {suite} (see {log})")
        for s, b, n in tests:
            if s == suite:
                verdict = run_test(exes[b], n, timeouts[(s, b, n)], log, envs[(s, b, n)])
                if verdict != "pass":
                    bad.append(f"{s} {b}::{n}: {verdict}")
        print(f"baseline {suite}: {time.monotonic() - started:.0f} s", flush=True)
    if bad:
        die(2, "BASELINE: named tests do not pass on the unmutated tree "
               f"(see {log}):\n  " + "\n  ".join(bad))


def run_mutant(m):
    """(status, suite, test, seconds): status CAUGHT, SURVIVED or BROKEN."""
    log = os.path.join(LOGS, f"{m.name}.log")
    open(log, "w").close()
    started = time.monotonic()
    contents, stale = m.apply(TREE)
    assert stale is None, stale  # checked before any build
    originals = {f: open(os.path.join(TREE, f), encoding="utf-8").read() for f in contents}
    try:
        for f, text in contents.items():
            with open(os.path.join(TREE, f), "w", encoding="utf-8") as out:
                out.write(text)
        exes = {}
        for suite, binaries in binaries_by_suite(m.tests).items():
            built = build(suite, binaries, log)
            if built is None:
                return "BROKEN", suite, "(does not compile)", time.monotonic() - started
            exes[suite] = built
        tried = []
        for suite, binary, name, timeout in m.tests:
            verdict = run_test(exes[suite][binary], name, timeout, log, m.env)
            if verdict == "fail":
                return "CAUGHT", suite, f"{binary}::{name}", time.monotonic() - started
            tried.append(f"{binary}::{name} ({verdict})")
        return "SURVIVED", "-", "; ".join(tried), time.monotonic() - started
    finally:
        # Written anew (fresh mtime): cargo rebuilds for the next mutant.
        for f, text in originals.items():
            with open(os.path.join(TREE, f), "w", encoding="utf-8") as out:
                out.write(text)


def table(rows):
    lines = ["| mutant | covers | what it breaks | suite | caught by | s |",
             "| --- | --- | --- | --- | --- | ---: |"]
    for m, (status, suite, test, seconds) in rows:
        caught = f"`{test}`" if status == "CAUGHT" else f"**{status}**: {test}"
        lines.append(f"| `{m.name}` | {m.covers} | {m.summary} | {suite} | {caught} | {seconds:.0f} |")
    return "\n".join(lines)


def main(argv):
    rev, check_only, write, names = None, False, True, []
    args = iter(argv)
    for a in args:
        if a == "--rev":
            rev = next(args, None) or die(2, "--rev needs a revision")
        elif a == "--check":
            check_only = True
        elif a == "--no-doc":
            write = False
        elif a.startswith("-"):
            die(2, f"unknown option {a}")
        else:
            names.append(a)
    total = time.monotonic()
    if rev:
        # The commit itself, resolved now: the table names what it tested.
        rev = subprocess.run(["git", "rev-parse", "--short", rev], capture_output=True,
                             text=True).stdout.strip() or die(2, f"no revision {rev!r}")
    mutants = load_mutants(names)
    if not names:
        shutil.rmtree(LOGS, ignore_errors=True)
    os.makedirs(LOGS, exist_ok=True)
    make_tree(rev)
    stale = [(m, m.apply(TREE)[1]) for m in mutants]
    stale = [f"{m.name}: {why}" for m, why in stale if why]
    if stale:
        die(2, "STALE mutants (the code they mutate changed; re-target them):\n  "
               + "\n  ".join(stale))
    print(f"{len(mutants)} mutants apply to {'the working tree' if not rev else rev}", flush=True)
    if check_only:
        return 0
    baseline(mutants)
    rows = []
    for m in mutants:
        result = run_mutant(m)
        rows.append((m, result))
        status, suite, test, seconds = result
        print(f"{status:8} {m.name:40} {suite:13} {test}  ({seconds:.0f} s)", flush=True)
    total = time.monotonic() - total
    text = table(rows)
    print("\n" + text + f"\n\n{len(rows)} mutants, total {total:.0f} s")
    caught = sum(1 for _, r in rows if r[0] == "CAUGHT")
    if write and not names:
        write_doc(text, len(rows), caught, total, rev)
    if caught != len(rows):
        print(f"mutants: {len(rows) - caught} of {len(rows)} not caught (logs in "
              f"{os.path.relpath(LOGS)})", file=sys.stderr)
        return 1
    return 0


def write_doc(text, n, caught, total, rev):
    source = f"commit `{rev}`" if rev else "the working tree"
    with open(DOC, "w", encoding="utf-8") as out:
        out.write(f"""# The mutant table

Written by `bash scripts/mutants.sh` (do not edit by hand; `--no-doc`
runs the table without rewriting this page). Each row is one
mutant of models/mutants/ (format: models/mutants/README.md): a small
deliberate bug, applied to a copy of the tree, and the first of its named
tests that failed on it. "Caught" means the test *failed*; a mutant that does
not compile is broken, not caught, and the script fails on it, as it does on
a mutant that no longer applies (stale) and on a named test that fails on
the unmutated tree. Seconds include the incremental rebuild.

Suites: **loom** (`--cfg kovan_map_loom`, the model reclaimer, exhaustive
within the stated bound), **shuttle** (random and PCT schedules over kovan),
**shuttle-model** (shuttle over the model reclaimer), **checker** (real
threads, histories checked by the linearizability checker), **stress** (the
root crate's real-thread stress tests).

Weakenings that were tried and are not bugs (so not kept as mutants), and
the scenarios the hopscotch mutants still need, are in
models/mutants/README.md and models/mutants/HOPSCOTCH-SCENARIOS.md.

{text}

{caught} of {n} caught; the run took {total:.0f} s on {source}
({os.cpu_count()} CPUs).
""")


sys.exit(main(sys.argv[1:]))
PYTHON
