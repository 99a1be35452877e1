"""Configuration: defaults and schema validation, semantic checks, and everything derived from it
(teacher ids, checkpoint steps, strategy schedules, seeds). Shared by the Snakefile and the scripts."""

from __future__ import annotations

import os
from copy import deepcopy

import yaml

from .streams import derive_seed

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "..", "schemas", "config.schema.yaml")
STRATEGY_KINDS = ("ce", "oneshot", "progressive", "pshot")


class ConfigError(ValueError):
    """A configuration mistake; the message names the key, the value and what would be valid."""


# ----------------------------------------------------------------------------------------- validation


def load_schema() -> dict:
    with open(SCHEMA_PATH) as fh:
        return yaml.safe_load(fh)


def _path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def validate_config(cfg: dict) -> dict:
    """Schema-validate (draft 2020-12), fill defaults, run the semantic checks. Returns the completed
    config or raises ConfigError listing every problem found, each naming key, value and what is valid."""
    import jsonschema

    cfg = deepcopy(cfg)
    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        msgs = []
        for e in errors:
            key = _path(e.absolute_path)
            if e.validator == "additionalProperties":
                msgs.append(f"{key}: {e.message} (check the spelling against the documented keys)")
            elif e.validator == "required":
                msgs.append(f"{key}: {e.message}")
            else:
                desc = e.schema.get("description") if isinstance(e.schema, dict) else None
                msgs.append(
                    f"{key} = {e.instance!r} is invalid: {e.message}" + (f" ({desc})" if desc else "")
                )
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(msgs))
    _fill_defaults(cfg, schema)
    grid_problems = expand_pshot_grids(cfg)
    if grid_problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(grid_problems))
    _fill_defaults(cfg, schema)  # the generated strategies get their defaults too
    problems = semantic_problems(cfg)
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return cfg


def _fill_defaults(cfg: dict, schema: dict) -> None:
    """Apply the schema's defaults (top level, and per experiment / strategy)."""
    defs = schema["$defs"]

    def fill(obj: dict, props: dict) -> None:
        for key, sub in props.items():
            if "default" in sub and key not in obj:
                obj[key] = deepcopy(sub["default"])
            if isinstance(obj.get(key), dict) and "properties" in sub:
                fill(obj[key], sub["properties"])

    fill(cfg, schema["properties"])
    exp_props = defs["experiment"]["properties"]
    for exp in cfg["experiments"].values():
        fill(exp, exp_props)
        for strat in exp["strategies"]:
            fill(strat, exp_props["strategies"]["items"]["properties"])
            strat.setdefault("alpha", 1.0 if strat["kind"] == "ce" else 0.0)


def step_label(step: int) -> str:
    """Compact step names for strategy names: 150000 -> 150k, 6500000 -> 6.5M."""
    if step >= 1_000_000 and step % 100_000 == 0:
        return f"{step / 1e6:g}M"
    if step >= 1000 and step % 1000 == 0:
        return f"{step // 1000}k"
    return str(step)


def expand_pshot_grids(cfg: dict) -> list[str]:
    """Turn each experiment's ``pshot_grid`` (candidate checkpoints; p-shot from every ordered choice of
    p-1 of them, or from the listed ``sets``; at each temperature) into ordinary pshot strategies."""
    import itertools

    out = []
    for name, exp in cfg["experiments"].items():
        grid = exp.get("pshot_grid")
        if not grid:
            continue
        k = f"experiments.{name}.pshot_grid"
        cands = grid["candidates"]
        sets = grid.get("sets")
        if sets is None:
            sets = [list(c) for c in itertools.combinations(sorted(cands), grid["shots"] - 1)]
        for i, st in enumerate(sets):
            bad = [c for c in st if c not in cands]
            if bad:
                out.append(f"{k}.sets[{i}] = {st}: {bad} are not among the candidates {cands}")
            if len(st) != grid["shots"] - 1:
                out.append(
                    f"{k}.sets[{i}] = {st}: a {grid['shots']}-shot set has {grid['shots'] - 1} checkpoints"
                )
        if out:
            continue
        for st in sets:
            for tau in grid["temperatures"]:
                label = "_".join(step_label(c) for c in st)
                suffix = "" if tau == 1.0 else "_lowT" if tau == min(grid["temperatures"]) else f"_tau{tau:g}"
                exp["strategies"].append(
                    {
                        "name": f"{grid['shots']}shot_{label}{suffix}",
                        "kind": "pshot",
                        "checkpoints": list(st),
                        "steps": grid["steps"],
                        "temperature": tau,
                    }
                )
    return out


def semantic_problems(cfg: dict) -> list[str]:
    """Checks a schema cannot express. Each message: key, value, what is valid."""
    out: list[str] = []
    dev = cfg.get("device", "auto")
    if dev.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            out.append(f"device = {dev!r}: no CUDA device is available on this machine; use 'auto' or 'cpu'")
    for name, exp in cfg["experiments"].items():
        k = f"experiments.{name}"
        out += _task_problems(k + ".task", exp["task"])
        t = exp["teacher"]
        if t["steps"] % t["checkpoint_every"]:
            out.append(
                f"{k}.teacher.checkpoint_every = {t['checkpoint_every']} does not divide "
                f"teacher.steps = {t['steps']}; valid: a divisor of the teacher's steps"
            )
        for key in ("lrs", "seeds"):
            if len(set(t[key])) != len(t[key]):
                out.append(f"{k}.teacher.{key} = {t[key]} has duplicates")
        s = exp["students"]
        for key in ("widths", "lrs", "seeds"):
            if len(set(s[key])) != len(s[key]):
                out.append(f"{k}.students.{key} = {s[key]} has duplicates")
        if exp["task"]["kind"] == "sparse_parity":
            d = exp["task"].get("d") or len(exp["task"].get("support") or [])
            bad = [g for g in exp["probe"]["degrees"] if g > d] if d else []
            if bad:
                out.append(
                    f"{k}.probe.degrees = {exp['probe']['degrees']}: degrees {bad} exceed the support "
                    f"size d = {d}; valid: 1 .. {d}"
                )
        names = [st["name"] for st in exp["strategies"]]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            out.append(f"{k}.strategies: duplicate strategy names {dup}; each name must be unique")
        saved = set(teacher_checkpoints(exp))
        for i, st in enumerate(exp["strategies"]):
            out += _strategy_problems(f"{k}.strategies[{i}] ({st['name']})", st, exp, saved)
    return out


def _task_problems(k: str, task: dict) -> list[str]:
    out = []
    n = task["n"]
    if task["kind"] == "sparse_parity":
        if "support" in task:
            sup = task["support"]
            bad = [i for i in sup if not 0 <= i < n]
            if bad:
                out.append(f"{k}.support = {sup}: indices {bad} are out of range; valid: 0 .. {n - 1}")
            if len(set(sup)) != len(sup):
                out.append(f"{k}.support = {sup} repeats a coordinate")
            if "d" in task and task["d"] != len(sup):
                out.append(f"{k}.d = {task['d']} does not match len(support) = {len(sup)}")
        elif "d" not in task:
            out.append(f"{k}: sparse_parity needs 'd' (support size) or an explicit 'support'")
        if "d" in task and task["d"] > n:
            out.append(f"{k}.d = {task['d']} exceeds n = {n}; valid: 1 .. n")
    else:
        for key in ("depth", "k"):
            if key not in task and "blocks" not in task:
                out.append(f"{k}: hierarchical needs '{key}'")
        if "depth" in task and "k" in task and (2 ** task["depth"] - 1) * task["k"] > n:
            need = (2 ** task["depth"] - 1) * task["k"]
            out.append(
                f"{k}: {2 ** task['depth'] - 1} blocks of k = {task['k']} coordinates need n >= {need}, "
                f"but n = {n}"
            )
        if "blocks" in task:
            flat = [i for b in task["blocks"] for i in b]
            if any(not 0 <= i < n for i in flat) or len(set(flat)) != len(flat):
                out.append(f"{k}.blocks = {task['blocks']}: blocks must be disjoint indices in 0 .. {n - 1}")
            if "depth" in task and len(task["blocks"]) != 2 ** task["depth"] - 1:
                out.append(
                    f"{k}.blocks: depth {task['depth']} needs {2 ** task['depth'] - 1} blocks, "
                    f"got {len(task['blocks'])}"
                )
    return out


def _strategy_problems(k: str, st: dict, exp: dict, saved: set[int]) -> list[str]:
    kind = st["kind"]
    if kind not in STRATEGY_KINDS:
        return [f"{k}.kind = {kind!r} is not a strategy kind; valid: {', '.join(STRATEGY_KINDS)}"]
    allowed = {
        "ce": set(),
        "oneshot": {"checkpoint"},
        "progressive": {"interval"},
        "pshot": {"checkpoints", "steps"},
    }[kind]
    extra = sorted({"checkpoint", "interval", "checkpoints", "steps"} & set(st) - allowed)
    out = [f"{k}: key {key!r} does not apply to kind {kind!r}" for key in extra]
    every = exp["teacher"]["checkpoint_every"]
    if kind == "oneshot":
        ck = st.get("checkpoint", "final")
        if ck != "final" and ck not in saved:
            out.append(
                f"{k}.checkpoint = {ck}: the teacher never saves that step; valid: 'final' or a multiple "
                f"of {every} up to {exp['teacher']['steps']}"
            )
    elif kind == "progressive":
        if "interval" not in st:
            out.append(f"{k}: progressive needs 'interval'")
        elif st["interval"] % every:
            out.append(
                f"{k}.interval = {st['interval']} is not a multiple of teacher.checkpoint_every = {every}"
            )
    elif kind == "pshot":
        cks = st.get("checkpoints")
        if not cks:
            out.append(f"{k}: pshot needs 'checkpoints' (intermediate teacher steps)")
        else:
            bad = [c for c in cks if c not in saved]
            if bad:
                out.append(
                    f"{k}.checkpoints = {cks}: the teacher never saves steps {bad}; valid: multiples of "
                    f"{every} up to {exp['teacher']['steps']}"
                )
            steps = st.get("steps")
            if steps is None:
                out.append(f"{k}: pshot needs 'steps' (student steps on each intermediate checkpoint)")
            elif isinstance(steps, list) and len(steps) != len(cks):
                out.append(f"{k}.steps = {steps} needs one entry per checkpoint ({len(cks)})")
            elif sum(_pshot_steps(st)) >= exp["students"]["steps"]:
                out.append(
                    f"{k}.steps: the intermediate checkpoints use {sum(_pshot_steps(st))} steps, "
                    f"leaving none of students.steps = {exp['students']['steps']} for the final one"
                )
    if kind == "ce" and st.get("alpha", 1.0) != 1.0:
        out.append(f"{k}.alpha = {st['alpha']}: a 'ce' strategy trains on labels only (alpha must be 1)")
    return out


def _pshot_steps(st: dict) -> list[int]:
    s = st["steps"]
    return list(s) if isinstance(s, list) else [s] * len(st["checkpoints"])


# ----------------------------------------------------------------------------------------- derived


def teacher_ids(exp: dict) -> list[str]:
    t = exp["teacher"]
    return [teacher_id(lr, seed) for lr in t["lrs"] for seed in t["seeds"]]


def teacher_id(lr: float, seed: int) -> str:
    return f"lr{lr:g}_s{seed}"


def parse_teacher_id(tid: str) -> tuple[float, int]:
    lr, seed = tid[2:].rsplit("_s", 1)
    return float(lr), int(seed)


def teacher_checkpoints(exp: dict) -> list[int]:
    t = exp["teacher"]
    return list(range(0, t["steps"] + 1, t["checkpoint_every"]))


def strategy(exp: dict, name: str) -> dict:
    for st in exp["strategies"]:
        if st["name"] == name:
            return st
    raise ConfigError(f"unknown strategy {name!r}; configured: {[s['name'] for s in exp['strategies']]}")


def schedule(st: dict, exp: dict) -> tuple[tuple[int, int], ...]:
    """(start_step, teacher_checkpoint) segments of a strategy over the students' steps."""
    final = exp["teacher"]["steps"]
    steps = exp["students"]["steps"]
    kind = st["kind"]
    if kind == "ce":
        return ()
    if kind == "oneshot":
        ck = st.get("checkpoint", "final")
        return ((0, final if ck == "final" else int(ck)),)
    if kind == "progressive":
        iv = st["interval"]
        return tuple((s, min(s, final)) for s in range(0, steps, iv))
    if kind == "pshot":
        segs, start = [], 0
        for ck, n_steps in zip(st["checkpoints"], _pshot_steps(st), strict=True):
            segs.append((start, int(ck)))
            start += n_steps
        segs.append((start, final))
        return tuple(segs)
    raise ConfigError(f"unknown strategy kind {kind!r}")


def seeds_for(exp_name: str) -> dict:
    """Named seed derivations, so every stream and init is reproducible from the experiment name."""
    return {
        "heldout": derive_seed(exp_name, "heldout"),
        "probe": derive_seed(exp_name, "probe"),
        "monomials": derive_seed(exp_name, "monomials") % 2**32,
    }


def teacher_seeds(exp_name: str, seed: int) -> tuple[int, int]:
    return derive_seed(exp_name, "teacher-init", seed), derive_seed(exp_name, "teacher-stream", seed)


def student_seeds(exp_name: str, width: int, seed: int) -> tuple[int, int]:
    """Init depends on (width, seed) and the stream on seed only: every strategy of a seed starts from the
    same student and sees the same samples, so strategies are compared on paired runs."""
    return derive_seed(exp_name, "student-init", width, seed), derive_seed(exp_name, "student-stream", seed)
