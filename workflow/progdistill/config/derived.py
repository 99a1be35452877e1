"""What is derived from a configuration besides its model: the digests that decide reruns, the named seeds
of every stream and initialisation, and the record of the configuration as it ran."""

from __future__ import annotations

from copy import deepcopy

import yaml

from ..nscaling_grid import generated_names
from ..streams import derive_seed
from .experiment import Experiment
from .validation import schema_default

# What a training or probe job's numbers depend on besides its wildcards. The rules pass a digest of it as a
# parameter, so Snakemake reruns exactly the jobs a configuration change affects: adding an LR, seed or
# width of the teacher grid, a student width or a strategy leaves the other jobs' specs unchanged. Taken from
# the validated blocks as written, so a refactoring of the model changes no digest (and reruns nothing).

PROTOCOL_KEYS = ("lr_schedule", "warmup", "train_set_size")


def protocol(block: dict) -> dict:
    """The LR schedule / training-set settings of a teacher or students block that differ from the schema's
    defaults (only those enter a spec, so the specs, and the finished jobs, of configurations without them
    stay as they were)."""
    return {k: block[k] for k in PROTOCOL_KEYS if block.get(k) != schema_default(k)}


def teacher_spec(exp: Experiment) -> dict:
    b = exp.config
    t = b["teacher"]
    return {
        "task": b["task"],
        "heldout": b["heldout"],
        "eval_every": b["eval_every"],
        "teacher": {k: t[k] for k in ("width", "steps", "checkpoint_every")} | protocol(t),
    }


def probe_spec(exp: Experiment) -> dict:
    b = exp.config
    return {"task": b["task"], "probe": b["probe"], "teacher_width": b["teacher"]["width"]}


def student_spec(exp: Experiment, strategy_name: str) -> dict:
    """Every LR x seed of a cell trains in one job: a changed students.lrs / seeds / steps reruns them all."""
    s = exp.config["students"]
    return {
        **teacher_spec(exp),
        "students": {k: s[k] for k in ("steps", "lrs", "seeds")} | protocol(s),
        "strategy": exp.strategy(strategy_name).config,
    }


def logits_spec(exp: Experiment) -> dict:
    """What reruns a teacher_logits job besides its inputs (the selected teacher's checkpoints, the
    selection): the teacher's and the students' steps. Not the strategies: a strategy added to a finished run
    keeps the files as they are (every block in them stays valid) and its students compute the blocks the
    files lack; a fresh run, or --forcerun teacher_logits, puts every strategy's blocks in the files."""
    spec = {**teacher_spec(exp), "students_steps": exp.students.steps}
    size = exp.students.protocol.train_set_size
    return spec if size is None else {**spec, "students_train_set_size": size}


def digest(cfg) -> str:
    """A short stable hash of a configuration (or any JSON-able spec)."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --- seeds: every stream and init reproducible from the experiment name ---------------------------------


def seeds_for(exp_name: str) -> dict:
    """Named seed derivations of an experiment's held-out set, probe sample and probe monomials."""
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


def record_form(cfg: dict) -> dict:
    """The validated configuration as the record writes it. Validating the record gives back the same
    record form, so a rerun from results/config.yaml has nothing to do (record_config's digest is of this)."""
    cfg = deepcopy(cfg)
    for exp in cfg["experiments"].values():
        exp.pop("pshot_grid", None)  # already expanded into strategies: keeps the record re-runnable
    for name in generated_names(cfg.get("nscaling")):  # regenerated from the section when it is rerun
        cfg["experiments"].pop(name, None)
    if not cfg["experiments"]:  # only generated ones: an empty block would not validate (minProperties)
        cfg.pop("experiments")
    return cfg


def write_record(cfg: dict, yaml_out: str, html_out: str | None = None) -> None:
    """The validated configuration as it ran (defaults filled in, p-shot grids expanded into strategies, the
    nscaling section kept and the experiments it generates left out):
    YAML that validates to the same configuration (reusable with --configfile), and an HTML page for the
    Snakemake report."""
    from html import escape

    from ..io import atomic_path

    cfg = record_form(cfg)
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
