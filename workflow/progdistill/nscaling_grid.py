"""The ``nscaling`` configuration section (how steps grow with n, theorem B.8) expanded into ordinary
sparse-parity experiments, one per (d, n) of its grid, so every existing rule (teacher, selection, probe,
teacher_logits, students, aggregate, summary, survival) runs on them unchanged.

The budget rule: each (d, n) has a checkpoint interval, ``steps x (n / reference_n)^exponent`` rounded to a
multiple of ``multiple``, and every step count of the section is a number of these intervals: the teacher's
and the students' steps, the evaluations (``evals_per_interval`` per interval), the progressive interval
and the p-shot steps. So every n sees the same number of checkpoints, evaluations and budget relative to
its own time scale.

``generate`` builds the experiments' configuration blocks (config.validation checks them against the
experiment schema and adds them); ``Section`` is the study model's view of the section (Study.nscaling).
Standard library only (it runs on every DAG evaluation)."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass

# The section's keys copied into every generated experiment as they are.
_PASSED = ("probe", "selection")


def experiment_name(section: dict, d: int, n: int) -> str:
    return f"{section.get('name', 'nscale')}_d{d}_n{n}"


def interval(rule: dict, n: int) -> int:
    """The checkpoint interval at n: steps x (n / reference_n)^exponent, rounded to a multiple of
    ``multiple`` (at least one multiple)."""
    m = rule.get("multiple", 100)
    raw = rule["steps"] * (n / rule["reference_n"]) ** rule["exponent"]
    return max(m, int(round(raw / m)) * m)


@dataclass(frozen=True)
class Cell:
    """One generated experiment: its name, support size d, input dimension n and checkpoint interval."""

    experiment: str
    d: int
    n: int
    interval: int


@dataclass(frozen=True)
class Section:
    """A validated ``nscaling`` section: its cells in grid order and its strategies' names in order."""

    cells: tuple[Cell, ...]
    strategy_names: tuple[str, ...]

    @classmethod
    def from_config(cls, section: dict | None) -> Section | None:
        if not section:
            return None
        return cls(tuple(cells(section)), tuple(st["name"] for st in section["strategies"]))

    @property
    def experiment_names(self) -> list[str]:
        return [c.experiment for c in self.cells]


def cells(section: dict | None) -> list[Cell]:
    """Every generated experiment of a section, in grid order (none without a section)."""
    if not section:
        return []
    return [
        Cell(experiment_name(section, c["d"], n), c["d"], n, interval(c["interval"], n))
        for c in section["grid"]
        for n in c["n"]
    ]


def generated_names(section: dict | None) -> list[str]:
    return [c.experiment for c in cells(section)]


def _strategy(st: dict, iv: int) -> dict:
    out = {k: v for k, v in st.items() if k not in ("interval", "steps")}
    if "interval" in st:
        out["interval"] = st["interval"] * iv
    if "steps" in st:
        out["steps"] = st["steps"] * iv
    return out


def experiment(sec: dict, d: int, n: int, iv: int) -> dict:
    """The ordinary experiment of one (d, n) cell with checkpoint interval ``iv``."""
    t, s = sec["teacher"], sec["students"]
    exp = {
        "task": {"kind": "sparse_parity", "n": n, "d": d, "seed": sec.get("task_seed", 0)},
        "heldout": sec.get("heldout", 2000),
        "eval_every": iv // sec.get("evals_per_interval", 2),
        "teacher": {
            "width": t["width"],
            "steps": t["intervals"] * iv,
            "lrs": list(t["lrs"]),
            "seeds": list(t.get("seeds", [0])),
            "checkpoint_every": iv,
        },
        "students": {
            "widths": list(s["widths"]),
            "steps": s["intervals"] * iv,
            "lrs": list(s["lrs"]),
            "seeds": list(s["seeds"]),
        },
        "strategies": [_strategy(st, iv) for st in sec["strategies"]],
    }
    for key in _PASSED:
        if sec.get(key):
            exp[key] = deepcopy(sec[key])
    return exp


def problems(cfg: dict, default_degrees: list[int]) -> list[str]:
    """What the schema cannot state about the section; each message names the key, the value and what is
    valid. Run before the expansion: a problem here means no experiment is generated. ``default_degrees``:
    the probe degrees an experiment gets when the section's probe names none (the schema's default)."""
    sec = cfg["nscaling"]
    k = "nscaling"
    out = []
    evals = sec.get("evals_per_interval", 2)
    names = generated_names(sec)
    ds = [c["d"] for c in sec["grid"]]
    if len(set(ds)) != len(ds):
        out.append(f"{k}.grid: d = {ds} repeats a support size; valid: one grid entry per d")
    for i, c in enumerate(sec["grid"]):
        ki = f"{k}.grid[{i}]"
        if len(set(c["n"])) != len(c["n"]):
            out.append(f"{ki}.n = {c['n']} has duplicates")
        small = [n for n in c["n"] if n <= c["d"]]
        if small:
            out.append(f"{ki}.n = {c['n']}: {small} are not above d = {c['d']}; valid: n > d")
        m = c["interval"].get("multiple", 100)
        if m % evals:
            out.append(
                f"{ki}.interval.multiple = {m} is not a multiple of {k}.evals_per_interval = {evals}; "
                "valid: a multiple of it (every checkpoint interval is then evaluated evenly)"
            )
        degrees = (sec.get("probe") or {}).get("degrees", default_degrees)
        high = [g for g in degrees if isinstance(g, int) and g > c["d"]]
        if high:
            out.append(
                f"{k}.probe.degrees = {degrees}: degrees {high} exceed {ki}.d = {c['d']}; valid: 1 .. d"
            )
    clash = sorted(set(names) & set(cfg.get("experiments") or {}))
    if clash:
        out.append(
            f"{k}: generates experiments {clash}, which experiments already has; valid: another {k}.name "
            "(a recorded configuration omits the generated experiments: rerun it as it is)"
        )
    strat_names = [st["name"] for st in sec["strategies"]]
    dup = sorted({n for n in strat_names if strat_names.count(n) > 1})
    if dup:
        out.append(f"{k}.strategies: duplicate strategy names {dup}; each name must be unique")
    budget = sec["students"]["intervals"]
    for i, st in enumerate(sec["strategies"]):
        # Intermediate checkpoints with steps on each: the schema gives both keys to p-shot strategies only.
        if "checkpoints" in st and "steps" in st and st["steps"] * len(st["checkpoints"]) >= budget:
            out.append(
                f"{k}.strategies[{i}] ({st['name']}).steps = {st['steps']}: its intermediate checkpoints use "
                f"{st['steps'] * len(st['checkpoints'])} intervals, leaving none of "
                f"{k}.students.intervals = {budget} for the final one"
            )
    return out


def generate(cfg: dict, default_degrees: list[int]) -> tuple[dict[str, dict], list[str]]:
    """The section's experiments (name -> configuration block, in grid order) and the problems found
    (no experiment then). Nothing without a section."""
    if not cfg.get("nscaling"):
        return {}, []
    out = problems(cfg, default_degrees)
    if out:
        return {}, out
    sec = cfg["nscaling"]
    return {c.experiment: experiment(sec, c.d, c.n, c.interval) for c in cells(sec)}, []
