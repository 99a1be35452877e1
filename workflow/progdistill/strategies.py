"""Strategy kinds: what each one means, in one class per kind.

A strategy is a target schedule: which teacher checkpoint supplies the student's targets from which step
(``schedule``: ``(start_step, checkpoint)`` segments; none for labels). Its class also owns everything else
the study needs to know about the kind, so no other module dispatches on a kind string:

- ``distills``: whether it learns from the teacher (then its students read teacher logits);
- ``named_checkpoints`` / ``resolved_checkpoints``: the checkpoints it names, symbolic ones (``transition``,
  ``level1``, ...) resolved by the automatic selection;
- ``problems``: the checks of its keys a schema cannot state (a step the teacher never saves, ...);
- ``run_options``: what the driver needs beyond the schedule (``Pace``: a schedule decided by the run's
  own evaluations; ``HiddenPhase``: a first phase on the hidden layer; progdistill.runspec);
- ``teacher_checkpoints``: the teacher data it needs stored (progressive: every checkpoint it visits);
- ``figure_groups``: which figures draw it (``"main"``: CE / one-shot / progressive, figures 1b, 4, 5;
  ``"p-shot"``: the p-shot panels, figures 2c-d, 6, 7; ``"curricula"``: the curricula beside the paper's);
  ``in_scaling_figure``: drawn beside CE's width sweep;
- its role in the statistics: ``is_baseline`` (the summary's p-values and speed-ups are against it),
  ``is_reference`` (what progressive distillation is tested against), ``claims`` (the log-rank tests it
  asks for) and ``group_claims`` (tests chosen from the data, e.g. the best 3-shot against the best 2-shot);
- ``growth_with_n``: what the theory predicts for how its steps grow with n (progdistill.nscaling).

Adding a kind: a subclass here registered with ``@kind``, its entry in the schema
(``workflow/schemas/config.schema.yaml``: the ``kind`` enum and one ``if``/``then`` block with its keys), and
engine code only if it brings a new loss (docs/design.md). Torch-free: the DAG builds these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from .runspec import HiddenPhase, Pace
from .streams import derive_seed
from .transition import is_symbolic, resolve

if TYPE_CHECKING:  # the model imports this module, not the other way round
    from .config.experiment import Experiment

Schedule = tuple[tuple[int, int], ...]
KINDS: dict[str, type[Strategy]] = {}  # kind name -> class, in the order the kinds are defined


# Theorem B.8: a student taught by an intermediate checkpoint, then the final teacher, needs about
# 2^d n^2 d^4 samples (an upper bound for the paper's idealised Algorithm 1).
PROGRESSIVE_BOUND = "progressive: <= 2^d n^2 d^4 samples, slope 2 (B.8, an upper bound)"


def kind(cls):
    """Register a Strategy subclass under its ``kind``."""
    KINDS[cls.kind] = cls
    return cls


def step_label(step: int) -> str:
    """Compact step names for strategy names and legends: 150000 -> 150k, 6500000 -> 6.5M."""
    if step >= 1_000_000 and step % 100_000 == 0:
        return f"{step / 1e6:g}M"
    if step >= 1000 and step % 1000 == 0:
        return f"{step // 1000}k"
    return str(step)


@dataclass(frozen=True)
class Strategy:
    """One configured strategy. ``config`` is its validated configuration block as written (defaults
    filled in): the digests that decide reruns are taken from it, so they do not depend on this class."""

    kind: ClassVar[str]
    distills: ClassVar[bool] = True
    figure_groups: ClassVar[frozenset[str]] = frozenset()
    in_scaling_figure: ClassVar[bool] = False
    is_baseline: ClassVar[bool] = False
    is_reference: ClassVar[bool] = False

    name: str
    temperature: float = 1.0
    alpha: float = 0.0
    config: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_config(cls, block: dict) -> Strategy:
        """The strategy of a validated ``strategies[i]`` block (a subclass reads its own keys)."""
        return cls(**cls._fields(block), config=block)

    @classmethod
    def _fields(cls, block: dict) -> dict:
        return dict(name=block["name"], temperature=float(block["temperature"]), alpha=float(block["alpha"]))

    @staticmethod
    def default_alpha() -> float:
        """Eq. 1's alpha when the configuration gives none: distillation only."""
        return 0.0

    # --- the schedule ------------------------------------------------------------------------------
    def schedule(self, exp: Experiment, selection: dict | None = None) -> Schedule:
        """(start_step, teacher_checkpoint) segments over the students' steps; () trains on labels.
        ``selection``: the select_checkpoints output, needed when the strategy names symbolic checkpoints."""
        raise NotImplementedError

    def run_options(self, exp: Experiment, selection: dict | None, width: int, seed: int) -> dict:
        """progdistill.runspec.RunSpec's target fields of one run (student ``width``, ``seed``): its schedule,
        and its Pace or HiddenPhase for the kinds that have one."""
        return {"schedule": self.schedule(exp, selection)}

    def own_teacher_samples(self, exp: Experiment, stage: bool) -> int:
        """Samples a students job of this strategy passes through the teacher itself (the cost model,
        progdistill.resources): none when it learns from labels or the teacher_logits ``stage`` holds its
        blocks, else one per step of each seed's stream (the runs of a seed share it)."""
        if not self.distills or stage:
            return 0
        return exp.students.steps * len(exp.students.seeds)

    def teacher_checkpoints(self, exp: Experiment, selection: dict | None = None) -> list[int]:
        """The teacher checkpoints its runs can learn from: what must be stored for it. Without the
        selection a named checkpoint counts as one of its own (-1, -2, ...)."""
        if selection is None:
            names = {c: -1 - i for i, c in enumerate(self.symbolic_names())}
            selection = {"checkpoints": names}
        return sorted({ck for _, ck in self.schedule(exp, selection)})

    def named_checkpoints(self) -> list:
        """The checkpoints the configuration names (steps, or symbolic names the selection resolves)."""
        return []

    def symbolic_names(self) -> list[str]:
        return [c for c in self.named_checkpoints() if is_symbolic(c)]

    @property
    def uses_selection(self) -> bool:
        """Whether it names a checkpoint the automatic selection chooses (e.g. 'transition')."""
        return bool(self.symbolic_names())

    def resolved_checkpoints(self, selection: dict | None = None) -> list[int]:
        """The named checkpoints as teacher steps, symbolic names replaced by the selection's choices."""
        return resolve(self.named_checkpoints(), selection, f"strategy {self.name!r}")

    # --- validation ----------------------------------------------------------------------------------
    def problems(self, key: str, exp: Experiment) -> list[str]:
        """What the schema cannot state about this strategy (each message: key, value, what is valid)."""
        out = []
        depth = exp.task.tree_depth
        for ck in self.symbolic_names():
            if not ck.startswith("level"):
                continue
            if depth is None:
                out.append(f"{key}: {ck!r} names a tree level, which only hierarchical tasks have")
            elif int(ck[5:]) >= depth:
                out.append(
                    f"{key}: {ck!r} names a tree level; valid: level0 .. level{depth - 1} (depth {depth})"
                )
        return out

    # --- the statistics ------------------------------------------------------------------------------
    def claims(self, exp: Experiment) -> list[tuple[Strategy, str]]:
        """(baseline, claim) pairs this strategy is tested against by a log-rank test (survival.py)."""
        return []

    @classmethod
    def group_claims(cls, exp: Experiment, best) -> list[tuple[str, str, str]]:
        """(strategy, baseline, claim) tests among this kind's strategies chosen from the data: ``best``
        maps a list of strategy names to the fastest one (or None) at one width and threshold."""
        return []

    def growth_with_n(self, d: int) -> str:
        """What the theory (theorem B.8; learning from labels) predicts for the exponent b of its steps ~ n^b
        on a sparse parity of support size d, the nscaling tables' ``theory`` column; "" when it says
        nothing about this kind."""
        return ""

    # --- figures ---------------------------------------------------------------------------------------
    def legend_label(self, selection: dict | None = None) -> str:
        return self.name


@kind
@dataclass(frozen=True)
class CE(Strategy):
    """Cross-entropy on the labels (Eq. 1 with alpha = 1): the baseline of every comparison."""

    kind: ClassVar[str] = "ce"
    distills: ClassVar[bool] = False
    figure_groups: ClassVar[frozenset[str]] = frozenset({"main", "curricula"})
    is_baseline: ClassVar[bool] = True
    is_reference: ClassVar[bool] = True

    alpha: float = 1.0

    @staticmethod
    def default_alpha() -> float:
        return 1.0

    def schedule(self, exp, selection=None) -> Schedule:
        return ()

    def growth_with_n(self, d: int) -> str:
        return f"labels only: ~ n^(d-1) = n^{d - 1}"


@kind
@dataclass(frozen=True)
class OneShot(Strategy):
    """One teacher checkpoint throughout: the final one by default (the paper's one-shot distillation)."""

    kind: ClassVar[str] = "oneshot"
    figure_groups: ClassVar[frozenset[str]] = frozenset({"main", "curricula"})
    is_reference: ClassVar[bool] = True

    checkpoint: int | str = "final"

    @classmethod
    def _fields(cls, block):
        return super()._fields(block) | {"checkpoint": block["checkpoint"]}

    def named_checkpoints(self) -> list:
        return [] if self.checkpoint == "final" else [self.checkpoint]

    def schedule(self, exp, selection=None) -> Schedule:
        cks = self.resolved_checkpoints(selection)
        return ((0, cks[0] if cks else exp.teacher.steps),)

    def growth_with_n(self, d: int) -> str:
        """Theorem B.8's lower bound is for the final teacher alone; an earlier checkpoint has none."""
        if self.checkpoint != "final":
            return ""
        return f"final teacher only: >= n^min(2c, d), n^{d} for c >= d/2 (B.8, lower bound)"

    def problems(self, key, exp) -> list[str]:
        out = super().problems(key, exp)
        ck = self.checkpoint
        if ck != "final" and not is_symbolic(ck) and ck not in exp.saved_checkpoints:
            out.append(
                f"{key}.checkpoint = {ck}: the teacher never saves that step; valid: 'final' or a multiple "
                f"of {exp.teacher.checkpoint_every} up to {exp.teacher.steps}"
            )
        return out


@kind
@dataclass(frozen=True)
class Progressive(Strategy):
    """The teacher's checkpoints in turn, one every ``interval`` student steps (the paper's progressive
    distillation), the final one once the student is past the teacher's steps."""

    kind: ClassVar[str] = "progressive"
    figure_groups: ClassVar[frozenset[str]] = frozenset({"main", "curricula"})
    in_scaling_figure: ClassVar[bool] = True

    interval: int = 0

    @classmethod
    def _fields(cls, block):
        return super()._fields(block) | {"interval": int(block["interval"])}

    def schedule(self, exp, selection=None) -> Schedule:
        final = exp.teacher.steps
        return tuple((s, min(s, final)) for s in range(0, exp.students.steps, self.interval))

    def problems(self, key, exp) -> list[str]:
        out = super().problems(key, exp)
        every = exp.teacher.checkpoint_every
        if self.interval % every:
            out.append(
                f"{key}.interval = {self.interval} is not a multiple of teacher.checkpoint_every = {every}"
            )
        return out

    def claims(self, exp) -> list[tuple[Strategy, str]]:
        """Against every reference strategy: CE and every one-shot."""
        return [(b, f"progressive vs {b.kind}") for b in exp.strategies if b.is_reference]

    def growth_with_n(self, d: int) -> str:
        return PROGRESSIVE_BOUND


@kind
@dataclass(frozen=True)
class PShot(Strategy):
    """p-shot distillation: p - 1 intermediate checkpoints in order, ``steps`` student steps each, then the
    final teacher for the rest of training."""

    kind: ClassVar[str] = "pshot"
    figure_groups: ClassVar[frozenset[str]] = frozenset({"p-shot"})
    in_scaling_figure: ClassVar[bool] = True

    checkpoints: tuple = ()
    steps: int | tuple[int, ...] = 0

    @classmethod
    def _fields(cls, block):
        steps = block["steps"]
        return super()._fields(block) | {
            "checkpoints": tuple(block["checkpoints"]),
            "steps": tuple(steps) if isinstance(steps, list) else int(steps),
        }

    @property
    def shots(self) -> int:
        """p: the intermediate checkpoints and the final one (a 2-shot strategy names one checkpoint)."""
        return len(self.checkpoints) + 1

    def segment_steps(self) -> list[int]:
        """Student steps on each intermediate checkpoint."""
        return list(self.steps) if isinstance(self.steps, tuple) else [self.steps] * len(self.checkpoints)

    def named_checkpoints(self) -> list:
        return list(self.checkpoints)

    def schedule(self, exp, selection=None) -> Schedule:
        segs, start = [], 0
        for ck, n_steps in zip(self.resolved_checkpoints(selection), self.segment_steps(), strict=True):
            segs.append((start, int(ck)))
            start += n_steps
        segs.append((start, exp.teacher.steps))
        return tuple(segs)

    def problems(self, key, exp) -> list[str]:
        out = super().problems(key, exp)
        cks = list(self.checkpoints)
        bad = [c for c in cks if not is_symbolic(c) and c not in exp.saved_checkpoints]
        if bad:
            out.append(
                f"{key}.checkpoints = {cks}: the teacher never saves steps {bad}; valid: multiples of "
                f"{exp.teacher.checkpoint_every} up to {exp.teacher.steps}"
            )
        if isinstance(self.steps, tuple) and len(self.steps) != len(cks):
            out.append(f"{key}.steps = {list(self.steps)} needs one entry per checkpoint ({len(cks)})")
        elif sum(self.segment_steps()) >= exp.students.steps:
            out.append(
                f"{key}.steps: the intermediate checkpoints use {sum(self.segment_steps())} steps, "
                f"leaving none of students.steps = {exp.students.steps} for the final one"
            )
        return out

    def claims(self, exp) -> list[tuple[Strategy, str]]:
        """A 2-shot strategy from the automatically selected 'transition' against every other 2-shot
        strategy of its temperature (the candidates before, inside and after the transition)."""
        if "transition" not in self.checkpoints:
            return []
        return [
            (b, "transition 2-shot vs other 2-shot")
            for b in exp.strategies
            if b is not self and isinstance(b, PShot) and b.shots == 2 and b.temperature == self.temperature
        ]

    @classmethod
    def group_claims(cls, exp, best) -> list[tuple[str, str, str]]:
        """The fastest 3-shot strategy against the fastest 2-shot one, at each temperature."""
        out = []
        pshots = [s for s in exp.strategies if isinstance(s, cls)]
        for tau in sorted({s.temperature for s in pshots}):
            same = [s for s in pshots if s.temperature == tau]
            three = best([s.name for s in same if s.shots == 3])
            two = best([s.name for s in same if s.shots == 2])
            if three and two:
                out.append((three, two, "best 3-shot vs best 2-shot"))
        return out

    def growth_with_n(self, d: int) -> str:
        """Theorem B.8's procedure is itself two-shot (a checkpoint of the teacher's first stage, then the
        final one): its bound applies to p-shot distillation as to progressive."""
        return PROGRESSIVE_BOUND

    def legend_label(self, selection=None) -> str:
        """The strategy and its checkpoints; a named one shows the step the selection chose."""

        def one(c):
            if not isinstance(c, str):
                return step_label(c)
            chosen = (selection or {}).get("checkpoints", {}).get(c)
            return f"{c}={step_label(chosen)}" if chosen is not None else c

        return f"{self.name} (from {'+'.join(one(c) for c in self.checkpoints)})"


@kind
@dataclass(frozen=True)
class Paced(Strategy):
    """Student-paced progressive distillation: the teacher's checkpoints every ``interval`` steps in turn,
    as progressive distillation has them, but each run moves on when it has caught up with the checkpoint
    it learns from rather than on a fixed schedule. At each of its held-out evaluations a run has caught up
    with its checkpoint when its held-out accuracy is at least the checkpoint's less ``tolerance``; it then
    moves to the first later checkpoint it has not caught up with (so it passes the checkpoints it already
    matches, e.g. the teacher's plateau at chance, in one evaluation). A run that has spent ``max_steps`` on
    a checkpoint without catching up moves to the next (the cap). Every run starts on checkpoint 0 and
    stays on the final teacher once there.

    Why accuracy: agreement with the checkpoint's argmax predictions was tried first and failed on the
    default parity task: a width-100 student spends ~20k steps imitating each chance-level checkpoint's
    noise to 90% agreement and never reaches the transition in 300k steps (6 of 6 runs). The authors' code
    holds a variant that moves on when the held-out accuracy stops improving (``progressive_till_saturate``,
    never run as published); comparing with the checkpoint's own accuracy asks instead whether the student
    knows what that checkpoint knows. Accuracy does not depend on the temperature."""

    kind: ClassVar[str] = "paced"
    figure_groups: ClassVar[frozenset[str]] = frozenset({"curricula", "pace"})

    interval: int = 0
    tolerance: float = 0.02
    max_steps: int = 0

    @classmethod
    def _fields(cls, block):
        return super()._fields(block) | {
            "interval": int(block["interval"]),
            "tolerance": float(block["tolerance"]),
            "max_steps": int(block["max_steps"]),
        }

    def curriculum(self, exp) -> tuple[int, ...]:
        """The checkpoints in the order a run visits them: 0, interval, 2 interval, ..., the final one."""
        final = exp.teacher.steps
        return tuple(sorted({*range(0, final, self.interval), final}))

    def schedule(self, exp, selection=None) -> Schedule:
        """The curriculum at the teacher's own pace (progressive distillation's schedule): what the
        teacher_logits stage stores for it. A run slower than that computes the logits it lacks itself."""
        return Progressive(name=self.name, interval=self.interval).schedule(exp)

    def run_options(self, exp, selection, width, seed) -> dict:
        pace = Pace(self.curriculum(exp), self.tolerance, self.max_steps)
        return {"schedule": ((0, pace.checkpoints[0]),), "pace": pace}

    def teacher_checkpoints(self, exp, selection=None) -> list[int]:
        return list(self.curriculum(exp))

    def own_teacher_samples(self, exp, stage: bool) -> int:
        """An upper bound: a run off the teacher's pace finds none of its blocks in the stage, and every
        run may be on a checkpoint of its own."""
        return exp.students.steps * exp.students.runs

    def problems(self, key, exp) -> list[str]:
        out = super().problems(key, exp)
        every = exp.teacher.checkpoint_every
        if self.interval % every:
            out.append(
                f"{key}.interval = {self.interval} is not a multiple of teacher.checkpoint_every = {every}"
            )
        if self.max_steps < exp.eval_every:
            out.append(
                f"{key}.max_steps = {self.max_steps}: a run can only move on at its evaluations, every "
                f"eval_every = {exp.eval_every} steps; valid: at least {exp.eval_every}"
            )
        return out

    def claims(self, exp) -> list[tuple[Strategy, str]]:
        """Against progressive distillation at its temperature (does pacing help?) and the baseline."""
        out = [
            (b, "paced vs progressive")
            for b in exp.strategies
            if isinstance(b, Progressive) and b.temperature == self.temperature
        ]
        return out + ([(exp.baseline, "paced vs ce")] if exp.baseline else [])


@kind
@dataclass(frozen=True)
class Extraction(Strategy):
    """Curriculum extraction from the final teacher (Gupta and Karmalkar 2025, arXiv 2503.17494): for the
    first ``steps`` steps the student's first layer alone learns to match a fixed random projection of the
    final teacher's hidden layer, relu(W1 x + b1) ~ P relu(W1_T x + b1_T) (squared loss), then the student
    distils the final teacher's output (Eq. 1 at ``temperature``) for the rest of training.

    Choices where the paper leaves them open, and why: the projection P (student width x teacher width)
    has entries N(0, 1 / teacher width), so each target unit has the scale of the teacher's hidden units;
    it is drawn per (experiment, student width, seed) and shared by the LRs of a seed, so strategies and
    LRs stay paired; the loss is divided by n, the squared loss's curvature along a +-1 input, so the run's
    LR gives a stable step at any n (0.02 x n = 2 would sit at the edge of divergence at n = 100); the
    output layer is left as initialised in phase 1 (the paper trains the layers in turn)."""

    kind: ClassVar[str] = "extraction"
    figure_groups: ClassVar[frozenset[str]] = frozenset({"curricula", "extracted"})

    steps: int = 0

    @classmethod
    def _fields(cls, block):
        return super()._fields(block) | {"steps": int(block["steps"])}

    def schedule(self, exp, selection=None) -> Schedule:
        """Phase 2: the final teacher's outputs from step ``steps`` (phase 1 needs no teacher logits)."""
        return ((self.steps, exp.teacher.steps),)

    def projection_seed(self, exp, width: int, seed: int) -> int:
        """The seed of a run's projection (recorded in its job's log; a function of the configuration)."""
        return derive_seed(exp.name, "extraction-projection", width, seed) % 2**63

    def run_options(self, exp, selection, width, seed) -> dict:
        hidden = HiddenPhase(
            self.steps, exp.teacher.steps, self.projection_seed(exp, width, seed), 1.0 / exp.task.n
        )
        return {"schedule": self.schedule(exp, selection), "hidden": hidden}

    def teacher_checkpoints(self, exp, selection=None) -> list[int]:
        return [exp.teacher.steps]

    def own_teacher_samples(self, exp, stage: bool) -> int:
        """Phase 1's hidden-layer targets (one teacher layer per sample of each seed), and phase 2's
        logits unless the stage holds them."""
        return self.steps * len(exp.students.seeds) + super().own_teacher_samples(exp, stage)

    def problems(self, key, exp) -> list[str]:
        out = super().problems(key, exp)
        if self.steps >= exp.students.steps:
            out.append(
                f"{key}.steps = {self.steps}: phase 1 would leave none of students.steps = "
                f"{exp.students.steps} for distilling the final teacher; valid: 1 .. {exp.students.steps - 1}"
            )
        return out

    def claims(self, exp) -> list[tuple[Strategy, str]]:
        """Against one-shot distillation from the final teacher (the same teacher data) and progressive
        distillation (the curriculum it stands in for), at its temperature, and the baseline."""
        out = [
            (b, "extraction vs one-shot")
            for b in exp.strategies
            if isinstance(b, OneShot) and b.checkpoint == "final" and b.temperature == self.temperature
        ]
        out += [
            (b, "extraction vs progressive")
            for b in exp.strategies
            if isinstance(b, Progressive) and b.temperature == self.temperature
        ]
        return out + ([(exp.baseline, "extraction vs ce")] if exp.baseline else [])


def from_config(block: dict) -> Strategy:
    """The Strategy object of a validated strategy block."""
    cls = KINDS.get(block["kind"])
    if cls is None:
        raise ValueError(f"unknown strategy kind {block['kind']!r}; valid: {sorted(KINDS)}")
    return cls.from_config(block)
