"""Configuration: defaults and schema validation, semantic checks, and everything derived from it
(teacher ids, checkpoint steps, strategy schedules, seeds). Shared by the Snakefile and the scripts."""

from __future__ import annotations

import os
from copy import deepcopy

import yaml

# Teacher ids and checkpoint steps name paths: layout owns them (re-exported here for callers).
from .layout import parse_teacher_id, teacher_checkpoints, teacher_id, teacher_ids  # noqa: F401
from .streams import derive_seed
from .transition import is_symbolic, resolve

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "..", "schemas", "config.schema.yaml")


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


def _at(obj, parts):
    for p in parts:
        obj = obj[p]
    return obj


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
            if e.validator == "not" and e.validator_value == {}:
                # A key the schema forbids in this context (if/then): the strategy kinds' own keys.
                where = list(e.absolute_path)[:-1]
                kind = _at(cfg, where).get("kind")
                msgs.append(f"{_path(where)}: key {e.absolute_path[-1]!r} does not apply to kind {kind!r}")
            elif e.validator == "additionalProperties":
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
    for exp in cfg["experiments"].values():
        for role in ("teacher", "students"):
            if exp[role].get("train_set_size") is not None:  # 8000000.0 is an integer to the schema
                exp[role]["train_set_size"] = int(exp[role]["train_set_size"])
    problems = semantic_problems(cfg) + theory_problems(cfg)
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return cfg


def _fill_defaults(cfg: dict, schema: dict) -> None:
    """Apply the schema's defaults (top level, and per experiment / strategy)."""
    defs = schema["$defs"]

    def fill(obj: dict, props: dict) -> None:
        for key, sub in props.items():
            while "$ref" in sub:  # a local $ref's keys (its default), the property's own keys winning
                ref = defs[sub["$ref"].rsplit("/", 1)[-1]]
                sub = {**ref, **{k: v for k, v in sub.items() if k != "$ref"}}
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


def theory_problems(cfg: dict) -> list[str]:
    """Semantic checks of the optional ``theory`` section (and that a configuration runs something)."""
    if "theory" not in cfg:
        return [] if cfg["experiments"] else ["experiments: none configured and no theory section; add one"]
    th, out = cfg["theory"], []
    if len(set(th["seeds"])) != len(th["seeds"]):
        out.append(f"theory.seeds = {th['seeds']} has duplicates")
    corr, st = th["correlation"], th["students"]
    for key, m in (("correlation.width", corr["width"]), ("students.teacher_width", st["teacher_width"]),
                   ("students.width", st["width"])):  # fmt: skip
        if m % 2:
            out.append(f"theory.{key} = {m} is odd; valid: an even width (symmetric initialisation pairs)")
    cells = [(i, c["d"], n) for i, c in enumerate(corr["grid"]) for n in c["n"]]
    cells += [(None, st["d"], n) for n in st["n"]]
    for i, d, n in cells:
        key = f"theory.correlation.grid[{i}]" if i is not None else "theory.students"
        if d % 2:
            out.append(f"{key}.d = {d} is odd; valid: an even support size (appendix B assumes d even)")
        if n < d + 2:
            out.append(f"{key}: n = {n} with d = {d}; valid: n >= d + 2 (off-support coordinates measured)")
    for key, vals in (("correlation.grid", [c["d"] for c in corr["grid"]]), ("students.n", st["n"])):
        if len(set(vals)) != len(vals):
            out.append(f"theory.{key} = {vals} has duplicates")
    for i, c in enumerate(corr["grid"]):
        if len(set(c["n"])) != len(c["n"]):
            out.append(f"theory.correlation.grid[{i}].n = {c['n']} has duplicates")
    grid = st["batch_grid"]
    if grid["min"] > grid["max"]:
        out.append(f"theory.students.batch_grid: min = {grid['min']} > max = {grid['max']}; need min <= max")
    return out


def semantic_problems(cfg: dict) -> list[str]:
    """Checks a schema cannot express. Each message: key, value, what is valid."""
    out: list[str] = []
    # device: cuda is not checked here: the DAG is often built on a machine without a GPU (a SLURM login
    # node) for jobs that run on GPU nodes; a job whose node has none fails (engine.resolve_device).
    dev = cfg.get("device", "auto")
    forced = {
        r: v
        for r, v in (cfg.get("placement") or {}).items()
        if r in ("teacher", "teacher_logits", "students") and v != "auto"
    }
    if forced and dev != "auto":
        out.append(
            f"placement = {forced} with device = {dev!r}: per-rule placement applies to device 'auto' only "
            "(device 'cpu' or 'cuda' already forces every job); valid: device: auto, or drop the override"
        )
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
        sel = exp["selection"]
        if not sel["start"] < sel["middle"] < sel["end"]:
            out.append(
                f"{k}.selection: start {sel['start']} < middle {sel['middle']} < end {sel['end']} must hold"
            )
        if "scaling" in exp:
            ws = exp["scaling"]["widths"]
            if len(set(ws)) != len(ws):
                out.append(f"{k}.scaling.widths = {ws} has duplicates")
            if not any(st["kind"] == "ce" for st in exp["strategies"]):
                out.append(f"{k}.scaling: the width sweep trains the 'ce' strategy; add one (kind: ce)")
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
    """What the schema cannot state: the kinds and their keys are checked there (if/then)."""
    kind = st["kind"]
    out = []
    every = exp["teacher"]["checkpoint_every"]
    named = [st.get("checkpoint")] if kind == "oneshot" else list(st.get("checkpoints") or [])
    for ck in filter(is_symbolic, named):
        if ck.startswith("level"):
            task = exp["task"]
            depth = task.get("depth") or (len(task.get("blocks", [])) + 1).bit_length() - 1
            if task["kind"] != "hierarchical":
                out.append(f"{k}: {ck!r} names a tree level, which only hierarchical tasks have")
            elif int(ck[5:]) >= depth:
                out.append(
                    f"{k}: {ck!r} names a tree level; valid: level0 .. level{depth - 1} (depth {depth})"
                )
    if kind == "oneshot":
        ck = st.get("checkpoint", "final")
        if ck != "final" and not is_symbolic(ck) and ck not in saved:
            out.append(
                f"{k}.checkpoint = {ck}: the teacher never saves that step; valid: 'final' or a multiple "
                f"of {every} up to {exp['teacher']['steps']}"
            )
    elif kind == "progressive":
        if st["interval"] % every:
            out.append(
                f"{k}.interval = {st['interval']} is not a multiple of teacher.checkpoint_every = {every}"
            )
    elif kind == "pshot":
        cks, steps = st["checkpoints"], st["steps"]
        bad = [c for c in cks if not is_symbolic(c) and c not in saved]
        if bad:
            out.append(
                f"{k}.checkpoints = {cks}: the teacher never saves steps {bad}; valid: multiples of "
                f"{every} up to {exp['teacher']['steps']}"
            )
        if isinstance(steps, list) and len(steps) != len(cks):
            out.append(f"{k}.steps = {steps} needs one entry per checkpoint ({len(cks)})")
        elif sum(_pshot_steps(st)) >= exp["students"]["steps"]:
            out.append(
                f"{k}.steps: the intermediate checkpoints use {sum(_pshot_steps(st))} steps, "
                f"leaving none of students.steps = {exp['students']['steps']} for the final one"
            )
    return out


def _pshot_steps(st: dict) -> list[int]:
    s = st["steps"]
    return list(s) if isinstance(s, list) else [s] * len(st["checkpoints"])


# ----------------------------------------------------------------------------------------- derived


def strategy(exp: dict, name: str) -> dict:
    for st in exp["strategies"]:
        if st["name"] == name:
            return st
    raise ConfigError(f"unknown strategy {name!r}; configured: {[s['name'] for s in exp['strategies']]}")


def symbolic_names(st: dict) -> list[str]:
    """The checkpoint names of a strategy that the automatic selection resolves (e.g. 'transition')."""
    return [c for c in [st.get("checkpoint"), *(st.get("checkpoints") or [])] if is_symbolic(c)]


def uses_selection(st: dict) -> bool:
    """Whether a strategy names a checkpoint the automatic selection chooses (e.g. 'transition')."""
    return any(is_symbolic(c) for c in [st.get("checkpoint"), *(st.get("checkpoints") or [])])


def resolved_checkpoints(st: dict, selection: dict | None = None) -> list[int]:
    """The teacher steps a oneshot / pshot strategy uses, symbolic names replaced by the selection's."""
    where = f"strategy {st['name']!r}"
    if st["kind"] == "oneshot":
        ck = st.get("checkpoint", "final")
        return [] if ck == "final" else resolve([ck], selection, where)
    return resolve(st.get("checkpoints") or [], selection, where)


def schedule(st: dict, exp: dict, selection: dict | None = None) -> tuple[tuple[int, int], ...]:
    """(start_step, teacher_checkpoint) segments of a strategy over the students' steps. ``selection`` is
    the select_checkpoints output, needed when the strategy names symbolic checkpoints."""
    final = exp["teacher"]["steps"]
    steps = exp["students"]["steps"]
    kind = st["kind"]
    if kind == "ce":
        return ()
    if kind == "oneshot":
        cks = resolved_checkpoints(st, selection)
        return ((0, cks[0] if cks else final),)
    if kind == "progressive":
        iv = st["interval"]
        return tuple((s, min(s, final)) for s in range(0, steps, iv))
    if kind == "pshot":
        segs, start = [], 0
        for ck, n_steps in zip(resolved_checkpoints(st, selection), _pshot_steps(st), strict=True):
            segs.append((start, int(ck)))
            start += n_steps
        segs.append((start, final))
        return tuple(segs)
    raise ConfigError(f"unknown strategy kind {kind!r}")


# What a training or probe job's numbers depend on besides its wildcards. The rules pass a digest of it as a
# parameter, so Snakemake reruns exactly the jobs a configuration change affects: adding an LR, seed or
# width of the teacher grid, a student width or a strategy leaves the other jobs' specs unchanged.


PROTOCOL_DEFAULTS = {"lr_schedule": "constant", "warmup": 0, "train_set_size": None}


def protocol(block: dict) -> dict:
    """The LR schedule / training-set settings of a teacher or students block that differ from the online
    protocol's defaults (only those enter a spec, so the specs, and the finished jobs, of configurations
    without them stay as they were)."""
    return {k: block[k] for k, v in PROTOCOL_DEFAULTS.items() if block.get(k, v) != v}


def train_options(block: dict) -> dict:
    """training.train's keyword arguments for a teacher or students block."""
    return {k: block.get(k, v) for k, v in PROTOCOL_DEFAULTS.items()}


def teacher_spec(exp: dict) -> dict:
    t = exp["teacher"]
    return {
        "task": exp["task"],
        "heldout": exp["heldout"],
        "eval_every": exp["eval_every"],
        "teacher": {k: t[k] for k in ("width", "steps", "checkpoint_every")} | protocol(t),
    }


def probe_spec(exp: dict) -> dict:
    return {"task": exp["task"], "probe": exp["probe"], "teacher_width": exp["teacher"]["width"]}


def student_spec(exp: dict, strategy_name: str) -> dict:
    """Every LR x seed of a cell trains in one job: a changed students.lrs / seeds / steps reruns them all."""
    s = exp["students"]
    return {
        **teacher_spec(exp),
        "students": {k: s[k] for k in ("steps", "lrs", "seeds")} | protocol(s),
        "strategy": strategy(exp, strategy_name),
    }


def distills(exp: dict) -> list[dict]:
    """The strategies that learn from the teacher (every kind but CE)."""
    return [st for st in exp["strategies"] if st["kind"] != "ce"]


def needs_selection(exp: dict) -> bool:
    """Whether some strategy of the experiment names a checkpoint the automatic selection chooses."""
    return any(uses_selection(st) for st in distills(exp))


def logits_spec(exp: dict) -> dict:
    """What reruns a teacher_logits job besides its inputs (the selected teacher's checkpoints, the
    selection): the teacher's and the students' steps. Not the strategies: a strategy added to a finished run
    keeps the files as they are (every block in them stays valid) and its students compute the blocks the
    files lack; a fresh run, or --forcerun teacher_logits, puts every strategy's blocks in the files."""
    spec = {**teacher_spec(exp), "students_steps": exp["students"]["steps"]}
    size = exp["students"].get("train_set_size")
    return spec if size is None else {**spec, "students_train_set_size": size}


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
    return derive_seed(exp_name, "student-init", width, seed), student_stream(exp_name, seed)


def student_stream(exp_name: str, seed: int) -> int:
    """The sample stream of a student seed: shared by every width and strategy (and one teacher-logit
    file of the teacher_logits stage)."""
    return derive_seed(exp_name, "student-stream", seed)


def write_record(cfg: dict, yaml_out: str, html_out: str | None = None) -> None:
    """The validated configuration as it ran (defaults filled in, p-shot grids expanded into strategies):
    YAML that validates to the same configuration (reusable with --configfile), and an HTML page for the
    Snakemake report."""
    from html import escape

    from .io import atomic_path

    cfg = deepcopy(cfg)
    for exp in cfg.get("experiments", {}).values():
        exp.pop("pshot_grid", None)  # already expanded into strategies: keeps the record re-runnable
    text = yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None, width=110)
    with atomic_path(yaml_out) as tmp, open(tmp, "w") as fh:
        fh.write(text)
    if html_out:
        page = (
            "<!doctype html><html><head><meta charset='utf-8'></head><body>"
            "<h1>Configuration</h1><p>As validated, with every default filled in.</p>"
            f"<pre>{escape(text)}</pre></body></html>"
        )
        with atomic_path(html_out) as tmp, open(tmp, "w") as fh:
            fh.write(page)


def digest(cfg: dict) -> str:
    """A short stable hash of a configuration."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:16]
