"""Strategy kinds: what each one means, in one class per kind.

A strategy is a target schedule: which teacher checkpoint supplies the student's targets from which step
(``schedule``: ``(start_step, checkpoint)`` segments; none for labels). Its class also owns everything else
the study needs to know about the kind, so no other module dispatches on a kind string:

- ``distills``: whether it learns from the teacher (then its students read teacher logits);
- ``named_checkpoints`` / ``resolved_checkpoints``: the checkpoints it names, symbolic ones (``transition``,
  ``level1``, ...) resolved by the automatic selection;
- ``problems``: the checks of its keys a schema cannot state (a step the teacher never saves, ...);
- ``figure_group``: which paper figures draw it (``"main"``: CE / one-shot / progressive, figures 1b, 4, 5;
  ``"p-shot"``: the p-shot panels, figures 2c-d, 6, 7); ``in_scaling_figure``: drawn beside CE's width sweep;
- its role in the statistics: ``is_baseline`` (the summary's p-values and speed-ups are against it),
  ``is_reference`` (what progressive distillation is tested against), ``claims`` (the log-rank tests it
  asks for) and ``group_claims`` (tests chosen from the data, e.g. the best 3-shot against the best 2-shot).

Adding a kind: a subclass here registered with ``@kind``, its entry in the schema
(``workflow/schemas/config.schema.yaml``: the ``kind`` enum and one ``if``/``then`` block with its keys), and
engine code only if it brings a new loss (docs/design.md). Torch-free: the DAG builds these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from .transition import is_symbolic, resolve

if TYPE_CHECKING:  # the model imports this module, not the other way round
    from .config.experiment import Experiment

Schedule = tuple[tuple[int, int], ...]
KINDS: dict[str, type[Strategy]] = {}  # kind name -> class, in the order the kinds are defined


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
    figure_group: ClassVar[str | None] = None
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

    # --- figures ---------------------------------------------------------------------------------------
    def legend_label(self, selection: dict | None = None) -> str:
        return self.name


@kind
@dataclass(frozen=True)
class CE(Strategy):
    """Cross-entropy on the labels (Eq. 1 with alpha = 1): the baseline of every comparison."""

    kind: ClassVar[str] = "ce"
    distills: ClassVar[bool] = False
    figure_group: ClassVar[str | None] = "main"
    is_baseline: ClassVar[bool] = True
    is_reference: ClassVar[bool] = True

    alpha: float = 1.0

    @staticmethod
    def default_alpha() -> float:
        return 1.0

    def schedule(self, exp, selection=None) -> Schedule:
        return ()


@kind
@dataclass(frozen=True)
class OneShot(Strategy):
    """One teacher checkpoint throughout: the final one by default (the paper's one-shot distillation)."""

    kind: ClassVar[str] = "oneshot"
    figure_group: ClassVar[str | None] = "main"
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
    figure_group: ClassVar[str | None] = "main"
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


@kind
@dataclass(frozen=True)
class PShot(Strategy):
    """p-shot distillation: p - 1 intermediate checkpoints in order, ``steps`` student steps each, then the
    final teacher for the rest of training."""

    kind: ClassVar[str] = "pshot"
    figure_group: ClassVar[str | None] = "p-shot"
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

    def legend_label(self, selection=None) -> str:
        """The strategy and its checkpoints; a named one shows the step the selection chose."""

        def one(c):
            if not isinstance(c, str):
                return step_label(c)
            chosen = (selection or {}).get("checkpoints", {}).get(c)
            return f"{c}={step_label(chosen)}" if chosen is not None else c

        return f"{self.name} (from {'+'.join(one(c) for c in self.checkpoints)})"


def from_config(block: dict) -> Strategy:
    """The Strategy object of a validated strategy block."""
    cls = KINDS.get(block["kind"])
    if cls is None:
        raise ValueError(f"unknown strategy kind {block['kind']!r}; valid: {sorted(KINDS)}")
    return cls.from_config(block)
