"""Validation of a configuration and its messages: the JSON schema (draft 2020-12) with the schema's
defaults filled in, p-shot grids expanded into strategies and an nscaling section into experiments, then the
checks a schema cannot state. Every
problem is reported at once, each naming the key, the value and what would be valid."""

from __future__ import annotations

import itertools
import os
from copy import deepcopy
from functools import cache

import yaml

from .. import nscaling_grid, tasks
from ..strategies import KINDS, PShot, step_label

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "schemas", "config.schema.yaml")


class ConfigError(ValueError):
    """A configuration mistake; the message names the key, the value and what would be valid."""


@cache
def _schema() -> dict:
    with open(SCHEMA_PATH) as fh:
        return yaml.safe_load(fh)


def load_schema() -> dict:
    """The configuration's JSON schema (a copy: callers may modify it)."""
    return deepcopy(_schema())


def schema_default(*path: str):
    """The schema's default at a path of ``$defs`` / property names, e.g. ("lr_schedule",) or
    ("experiment", "selection", "start"): the one place defaults are written."""
    node = _schema()["$defs"][path[0]]
    for key in path[1:]:
        node = _schema()["$defs"][node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else node
        node = node["properties"][key]
    return deepcopy(node["default"])


def _path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def _at(obj, parts):
    for p in parts:
        obj = obj[p]
    return obj


def _schema_message(e, cfg: dict) -> str | None:
    """One readable line per schema error; None for an error another line already explains."""
    key = _path(e.absolute_path)
    if e.validator == "unevaluatedProperties":
        # A strategy key that its kind's block in the schema does not declare. A key the kind does declare
        # is reported here too when its block failed on something else (its own message says what).
        obj = _at(cfg, e.absolute_path)
        kind = obj.get("kind")
        if kind not in KINDS:
            return None  # the kind's own error names the valid kinds
        common = set(e.schema.get("properties", {}))
        own = _kind_keys(kind)
        extra = sorted(k for k in obj if k not in common | own)
        if not extra:
            return None
        return "; ".join(
            f"{key}: key {k!r} does not apply to kind {kind!r} (its keys: {', '.join(sorted(own | common))})"
            for k in extra
        )
    if e.validator == "additionalProperties":
        return f"{key}: {e.message} (check the spelling against the documented keys)"
    if e.validator == "required":
        return f"{key}: {e.message}"
    desc = e.schema.get("description") if isinstance(e.schema, dict) else None
    return f"{key} = {e.instance!r} is invalid: {e.message}" + (f" ({desc})" if desc else "")


def _kind_keys(kind: str) -> set[str]:
    """The keys the schema's if/then block of a strategy kind declares."""
    for block in _schema()["$defs"]["strategy"]["allOf"]:
        if block["if"]["properties"]["kind"]["const"] == kind:
            return set(block["then"].get("properties", {})) - set(
                _schema()["$defs"]["strategy"]["properties"]
            )
    return set()


def validate_config(cfg: dict) -> dict:
    """Schema-validate (draft 2020-12), fill defaults, run the semantic checks. Returns the completed
    config or raises ConfigError listing every problem found, each naming key, value and what is valid."""
    import jsonschema

    cfg = deepcopy(cfg)
    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        msgs = [m for m in dict.fromkeys(_schema_message(e, cfg) for e in errors) if m]
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(msgs))
    _fill_defaults(cfg, schema)
    grid_problems = expand_pshot_grids(cfg) + expand_nscaling(cfg, schema)  # nscaling: one experiment per n
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

    def resolve(sub: dict) -> dict:
        while "$ref" in sub:  # a local $ref's keys (its default), the property's own keys winning
            ref = defs[sub["$ref"].rsplit("/", 1)[-1]]
            sub = {**ref, **{k: v for k, v in sub.items() if k != "$ref"}}
        return sub

    def fill(obj: dict, props: dict) -> None:
        for key, sub in props.items():
            sub = resolve(sub)
            if "default" in sub and key not in obj:
                obj[key] = deepcopy(sub["default"])
            if isinstance(obj.get(key), dict) and "properties" in sub:
                fill(obj[key], sub["properties"])

    fill(cfg, schema["properties"])
    exp_props = defs["experiment"]["properties"]
    for exp in cfg["experiments"].values():
        fill(exp, exp_props)
        for strat in exp["strategies"]:
            fill(strat, defs["strategy"]["properties"])
            for block in defs["strategy"]["allOf"]:  # the defaults of the strategy's kind's own keys
                if block["if"]["properties"]["kind"]["const"] == strat["kind"]:
                    fill(strat, block["then"].get("properties", {}))
            strat.setdefault("alpha", KINDS[strat["kind"]].default_alpha())


def expand_pshot_grids(cfg: dict) -> list[str]:
    """Turn each experiment's ``pshot_grid`` (candidate checkpoints; p-shot from every ordered choice of
    p-1 of them, or from the listed ``sets``; at each temperature) into ordinary pshot strategies."""
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
                        "kind": PShot.kind,
                        "checkpoints": list(st),
                        "steps": grid["steps"],
                        "temperature": tau,
                    }
                )
    return out


def expand_nscaling(cfg: dict, schema: dict) -> list[str]:
    """Add the ``nscaling`` section's experiments (progdistill.nscaling_grid) to ``cfg["experiments"]``,
    each checked against the schema's experiment definition first, its messages naming the section's key
    (its probe and selection keys are passed through unchecked until here). Returns the problems found
    (nothing is added then; one experiment's messages say it for all of them)."""
    import jsonschema

    generated, out = nscaling_grid.generate(cfg, schema_default("experiment", "probe", "degrees"))
    if out:
        return out
    validator = jsonschema.Draft202012Validator({"$ref": "#/$defs/experiment", "$defs": schema["$defs"]})
    for name, exp in generated.items():
        errors = sorted(validator.iter_errors(exp), key=lambda e: list(map(str, e.absolute_path)))
        msgs = [m for m in dict.fromkeys(_schema_message(e, exp) for e in errors) if m]
        if msgs:
            return [f"nscaling.{m} (in the generated experiment {name})" for m in msgs]
    cfg["experiments"].update(generated)
    return []


def theory_problems(cfg: dict) -> list[str]:
    """Semantic checks of the optional ``theory`` section (and that a configuration runs something)."""
    if "theory" not in cfg:
        if cfg["experiments"]:
            return []
        return ["experiments: none configured and no theory or nscaling section; add one"]
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
    """Checks a schema cannot express. Each message: key, value, what is valid. An experiment whose task
    block has a problem is reported for that alone (its task cannot be built to check the rest)."""
    from .experiment import Experiment

    out: list[str] = []
    # device: cuda is not checked here: the DAG is often built on a machine without a GPU (a SLURM login
    # node) for jobs that run on GPU nodes; a job whose node has none fails (engine.resolve_device).
    dev = cfg["device"]
    forced = {
        r: v
        for r, v in cfg["placement"].items()
        if r in ("teacher", "teacher_logits", "students") and v != "auto"
    }
    if forced and dev != "auto":
        out.append(
            f"placement = {forced} with device = {dev!r}: per-rule placement applies to device 'auto' only "
            "(device 'cpu' or 'cuda' already forces every job); valid: device: auto, or drop the override"
        )
    for name, block in cfg["experiments"].items():
        k = f"experiments.{name}"
        task_problems = tasks.config_problems(k + ".task", block["task"])
        if task_problems:
            out += task_problems
            continue
        out += Experiment.from_config(name, block).problems(k)
    return out
