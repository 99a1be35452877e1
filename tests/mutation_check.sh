#!/usr/bin/env bash
# Mutation check for the science tests (README "Guarantees"): apply one plausible bug at a time to the
# package, run tests/test_targets_reference.py, expect failures, restore the file. Run from the repository
# root on a clean tree: bash tests/mutation_check.sh   (about a minute). Exits non-zero if a mutation survives.
set -u
PY=${PY:-.venv/bin/python}
survived=0
mutate() {
    local name="$1" file="$2" from="$3" to="$4"
    cp "$file" "$file.orig"
    "$PY" - "$file" "$from" "$to" <<'PYEOF'
import sys
path, a, b = sys.argv[1:]
text = open(path).read()
assert text.count(a) == 1, f"{path}: the mutated line was not found exactly once: {a!r}"
open(path, "w").write(text.replace(a, b))
PYEOF
    out=$("$PY" -m pytest tests/test_targets_reference.py -q -p no:cacheprovider 2>&1 | tail -1)
    mv "$file.orig" "$file"
    case "$out" in
        *failed* | *error*) echo "killed   [$name]: $out" ;;
        *) echo "SURVIVED [$name]: $out"; survived=1 ;;
    esac
}
mutate "alpha <-> 1-alpha" workflow/progdistill/training.py \
    "r.alpha * onehot[s] + (1 - r.alpha) * soft[key]" "(1 - r.alpha) * onehot[s] + r.alpha * soft[key]"
mutate "tau not applied to the teacher (as if on the student)" workflow/progdistill/training.py \
    "soft[key] = soft_targets(logits, r.temperature).cpu()" "soft[key] = soft_targets(logits, 1.0).cpu()"
mutate "temperature on the student's softmax in the engine" workflow/progdistill/engine.py \
    "g = torch.softmax(logits, dim=1) - Q[:, t]" "g = torch.softmax(logits / 0.5, dim=1) - Q[:, t]"
mutate "progressive: checkpoint one interval later" workflow/progdistill/strategies.py \
    "return tuple((s, min(s, final)) for s in range(0, exp.students.steps, self.interval))" \
    "return tuple((s, min(s + self.interval, final)) for s in range(0, exp.students.steps, self.interval))"
mutate "p-shot: segments shifted by one shot" workflow/progdistill/strategies.py \
    "            segs.append((start, int(ck)))
            start += n_steps" "            start += n_steps
            segs.append((start, int(ck)))"
mutate "teacher switch one step late" workflow/progdistill/runspec.py \
    "i = bisect.bisect_right(starts, step) - 1" "i = bisect.bisect_right(starts, step - 1) - 1"
exit $survived
