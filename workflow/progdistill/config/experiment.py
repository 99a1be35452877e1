"""The study model: a validated configuration parsed once into typed objects.

``Study`` (the run-wide settings and the experiments) -> ``Experiment`` (its task, teacher, students,
probe, selection settings and strategies) -> ``Strategy`` objects (progdistill.strategies, one class per
kind). Rules, resources, placement, figures, summary and statistics take these objects; what a strategy
kind means is its class's, what a task means is its class's (progdistill.tasks).

Torch-free (the Snakefile builds a Study on every DAG evaluation). Every field comes from the validated
configuration, whose defaults the schema fills: nothing here repeats a default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import strategies as S
from ..layout import teacher_id
from ..nscaling_grid import Section
from ..tasks import make_task


@dataclass(frozen=True)
class Protocol:
    """The LR schedule and training-set settings of a teacher or students block (the authors' protocol)."""

    lr_schedule: str
    warmup: float
    train_set_size: int | None

    @classmethod
    def from_config(cls, block: dict) -> Protocol:
        return cls(block["lr_schedule"], block["warmup"], block["train_set_size"])

    def train_options(self) -> dict:
        """training.train's keyword arguments."""
        return {"lr_schedule": self.lr_schedule, "warmup": self.warmup, "train_set_size": self.train_set_size}


@dataclass(frozen=True)
class Teacher:
    width: int
    steps: int
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]
    checkpoint_every: int
    protocol: Protocol

    @property
    def checkpoint_steps(self) -> list[int]:
        """Every step a checkpoint is saved at, 0 and the final one included."""
        return list(range(0, self.steps + 1, self.checkpoint_every))

    @property
    def ids(self) -> list[str]:
        """One teacher per LR x seed (layout.teacher_id names its folder)."""
        return [teacher_id(lr, seed) for lr in self.lrs for seed in self.seeds]


@dataclass(frozen=True)
class Students:
    widths: tuple[int, ...]
    steps: int
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]
    protocol: Protocol

    @property
    def runs(self) -> int:
        """Runs trained together by one students job: every LR x seed."""
        return len(self.lrs) * len(self.seeds)

    @property
    def smallest(self) -> int:
        return min(self.widths)

    @property
    def largest(self) -> int:
        return max(self.widths)


@dataclass(frozen=True)
class Probe:
    samples: int
    degrees: tuple[int, ...]
    off_support_per_degree: int


@dataclass(frozen=True)
class Scaling:
    widths: tuple[int, ...]
    accuracy: float


@dataclass(frozen=True)
class Experiment:
    name: str
    task: object  # a progdistill.tasks task (SparseParity, HierarchicalParity, ...)
    heldout: int
    eval_every: int
    teacher: Teacher
    students: Students
    probe: Probe
    selection: dict  # progdistill.transition's parameters (the schema's selection block)
    strategies: tuple[S.Strategy, ...]
    scaling: Scaling | None = None
    pshot_candidates: tuple[int, ...] = ()  # pshot_grid.candidates: the figures mark them
    config: dict = field(default_factory=dict, compare=False, repr=False)  # the validated block

    @classmethod
    def from_config(cls, name: str, block: dict) -> Experiment:
        t, s, p = block["teacher"], block["students"], block["probe"]
        scaling = block.get("scaling")
        return cls(
            name=name,
            task=make_task(block["task"]),
            heldout=block["heldout"],
            eval_every=block["eval_every"],
            teacher=Teacher(
                t["width"],
                t["steps"],
                tuple(t["lrs"]),
                tuple(t["seeds"]),
                t["checkpoint_every"],
                Protocol.from_config(t),
            ),  # fmt: skip
            students=Students(
                tuple(s["widths"]), s["steps"], tuple(s["lrs"]), tuple(s["seeds"]), Protocol.from_config(s)
            ),
            probe=Probe(p["samples"], tuple(p["degrees"]), p["off_support_per_degree"]),
            selection=dict(block["selection"]),
            strategies=tuple(S.from_config(st) for st in block["strategies"]),
            scaling=Scaling(tuple(scaling["widths"]), scaling["accuracy"]) if scaling else None,
            pshot_candidates=tuple(sorted((block.get("pshot_grid") or {}).get("candidates", ()))),
            config=block,
        )

    # --- strategies ----------------------------------------------------------------------------------
    def strategy(self, name: str) -> S.Strategy:
        for st in self.strategies:
            if st.name == name:
                return st
        from .validation import ConfigError

        names = [s.name for s in self.strategies]
        raise ConfigError(f"experiment {self.name!r}: unknown strategy {name!r}; configured: {names}")

    @property
    def baseline(self) -> S.Strategy | None:
        """The strategy p-values and speed-ups are against (the first of a baseline kind: CE)."""
        return next((st for st in self.strategies if st.is_baseline), None)

    @property
    def distilling(self) -> list[S.Strategy]:
        """The strategies that learn from the teacher."""
        return [st for st in self.strategies if st.distills]

    @property
    def needs_selection(self) -> bool:
        """Whether some strategy names a checkpoint the automatic selection chooses."""
        return any(st.uses_selection for st in self.strategies)

    def in_figure_group(self, group: str) -> list[S.Strategy]:
        return [st for st in self.strategies if group in st.figure_groups]

    def candidate_checkpoints(self) -> list[int]:
        """The p-shot candidates the teacher figures mark: the grid's, else every fixed p-shot step."""
        if self.pshot_candidates:
            return list(self.pshot_candidates)
        return sorted(
            {
                c
                for st in self.in_figure_group("p-shot")
                for c in st.named_checkpoints()
                if not isinstance(c, str)
            }
        )

    # --- jobs --------------------------------------------------------------------------------------------
    @property
    def saved_checkpoints(self) -> set[int]:
        return set(self.teacher.checkpoint_steps)

    def student_cells(self) -> list[tuple[str, int]]:
        """(strategy, width) of every student job: each strategy at the student widths, plus the baseline at
        the scaling sweep's widths."""
        cells = [(st.name, w) for st in self.strategies for w in self.students.widths]
        if self.scaling and self.baseline:
            cells += [
                (self.baseline.name, w) for w in self.scaling.widths if (self.baseline.name, w) not in cells
            ]
        return cells

    # --- validation ----------------------------------------------------------------------------------
    def problems(self, k: str) -> list[str]:
        """What the schema cannot state about this experiment (its task block already checked)."""
        out = []
        t = self.teacher
        if t.steps % t.checkpoint_every:
            out.append(
                f"{k}.teacher.checkpoint_every = {t.checkpoint_every} does not divide "
                f"teacher.steps = {t.steps}; valid: a divisor of the teacher's steps"
            )
        for key in ("lrs", "seeds"):
            vals = list(getattr(t, key))
            if len(set(vals)) != len(vals):
                out.append(f"{k}.teacher.{key} = {vals} has duplicates")
        for key in ("widths", "lrs", "seeds"):
            vals = list(getattr(self.students, key))
            if len(set(vals)) != len(vals):
                out.append(f"{k}.students.{key} = {vals} has duplicates")
        out += self.task.probe_problems(f"{k}.probe.degrees", list(self.probe.degrees))
        sel = self.selection
        if not sel["start"] < sel["middle"] < sel["end"]:
            out.append(
                f"{k}.selection: start {sel['start']} < middle {sel['middle']} < end {sel['end']} must hold"
            )
        if self.scaling:
            ws = list(self.scaling.widths)
            if len(set(ws)) != len(ws):
                out.append(f"{k}.scaling.widths = {ws} has duplicates")
            if self.baseline is None:
                out.append(f"{k}.scaling: the width sweep trains the 'ce' strategy; add one (kind: ce)")
        names = [st.name for st in self.strategies]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            out.append(f"{k}.strategies: duplicate strategy names {dup}; each name must be unique")
        for i, st in enumerate(self.strategies):
            out += st.problems(f"{k}.strategies[{i}] ({st.name})", self)
        return out


@dataclass(frozen=True)
class Study:
    """A validated configuration: the run-wide settings and every experiment."""

    device: str
    backend: str
    threads: int
    chunk: int
    resume_every: int
    teacher_logits: str  # 'stage' | 'inline'
    kernel_target: str
    placement: dict
    figures: dict  # figure family -> the experiment it draws
    experiments: dict  # name -> Experiment
    theory: dict | None
    nscaling: Section | None  # the nscaling section (its experiments are among ``experiments``)
    config: dict = field(compare=False, repr=False)  # the validated dict

    @classmethod
    def from_config(cls, cfg: dict) -> Study:
        """The model of a configuration that validate_config returned."""
        return cls(
            device=cfg["device"],
            backend=cfg["backend"],
            threads=cfg["threads"],
            chunk=cfg["chunk"],
            resume_every=cfg["resume_every"],
            teacher_logits=cfg["teacher_logits"],
            kernel_target=cfg["kernel_target"],
            placement=dict(cfg["placement"]),
            figures=dict(cfg["figures"]),
            experiments={name: Experiment.from_config(name, b) for name, b in cfg["experiments"].items()},
            theory=cfg.get("theory"),
            nscaling=Section.from_config(cfg.get("nscaling")),
            config=cfg,
        )

    def experiment(self, name: str) -> Experiment:
        return self.experiments[name]

    def figure_experiment(self, family: str) -> Experiment | None:
        """The experiment a figure family draws (config ``figures.<family>``), when it exists."""
        return self.experiments.get(self.figures.get(family))

    # The teacher_logits stage (logit_store): one place decides whether it serves a job.
    def uses_logit_stage(self, exp: Experiment) -> bool:
        """Whether the experiment has teacher_logits jobs: the stage is on and some strategy distils."""
        return self.teacher_logits == "stage" and bool(exp.distilling)

    def reads_logit_stage(self, strategy: S.Strategy) -> bool:
        """Whether a students job of this strategy reads the stage's files."""
        return self.teacher_logits == "stage" and strategy.distills


def as_study(cfg) -> Study:
    """A Study from a validated configuration dict (as Snakemake passes it to a job), or the Study given."""
    return cfg if isinstance(cfg, Study) else Study.from_config(cfg)
