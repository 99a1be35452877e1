"""The study model (progdistill.config.experiment, progdistill.strategies): a strategy kind is one class and
its schema entry, and nothing else in the package asks which kind a strategy is."""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, SMOKE
from progdistill import config as C
from progdistill import figures, layout, placement, resources, study, summary, survival
from progdistill import strategies as S
from progdistill.config import validation

# ---------------------------------------------------------------------------------------- a toy kind


@dataclass(frozen=True)
class Halfway(S.Strategy):
    """A toy kind, written as docs/design.md says: the teacher's checkpoint nearest the middle of its
    training for the first ``share`` of the students' steps, then the final teacher; tested against the
    baseline; drawn with the main strategies."""

    kind: ClassVar[str] = "halfway"
    figure_groups: ClassVar[frozenset[str]] = frozenset({"main"})

    share: float = 0.5

    @classmethod
    def _fields(cls, block):
        return super()._fields(block) | {"share": float(block["share"])}

    def middle(self, exp) -> int:
        return min(exp.teacher.checkpoint_steps, key=lambda c: (abs(c - exp.teacher.steps / 2), c))

    def schedule(self, exp, selection=None):
        return ((0, self.middle(exp)), (int(self.share * exp.students.steps), exp.teacher.steps))

    def claims(self, exp):
        return [(exp.baseline, "halfway vs ce")]


# Its schema entry: the kind in the enum and one if/then block with its own key.
HALFWAY_SCHEMA = {
    "if": {"properties": {"kind": {"const": "halfway"}}},
    "then": {"properties": {"share": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}}},
}


@pytest.fixture
def halfway(monkeypatch):
    schema = copy.deepcopy(validation._schema())
    schema["$defs"]["strategy"]["properties"]["kind"]["enum"].append("halfway")
    schema["$defs"]["strategy"]["allOf"].append(HALFWAY_SCHEMA)
    monkeypatch.setattr(validation, "_schema", lambda: schema)
    monkeypatch.setitem(S.KINDS, "halfway", Halfway)


def _smoke(*extra):
    cfg = yaml.safe_load(SMOKE.read_text())
    cfg["experiments"]["parity"]["strategies"] += list(extra)
    return cfg


def test_a_bad_key_of_the_new_kind_is_refused_by_name(halfway):
    with pytest.raises(C.ConfigError) as err:
        C.load_study(_smoke({"name": "half", "kind": "halfway", "share": 0.5, "interval": 1000}))
    assert "key 'interval' does not apply to kind 'halfway'" in str(err.value)
    assert "share" in str(err.value)  # the message lists the kind's keys
    with pytest.raises(C.ConfigError, match=r"share = 1.5 is invalid"):
        C.load_study(_smoke({"name": "half", "kind": "halfway", "share": 1.5}))


@pytest.mark.slow
def test_a_new_kind_is_one_class_and_its_schema_entry(halfway, smoke_run, tmp_path):
    """Validated, planned, trained, tabulated, tested and drawn, with no other module touched."""
    st_cfg = {"name": "half", "kind": "halfway", "share": 0.5}
    model = C.load_study(_smoke(st_cfg))
    exp = model.experiment("parity")
    half = exp.strategy("half")
    assert isinstance(half, Halfway) and half.alpha == 0.0 and half.temperature == 1.0  # schema defaults
    assert half.schedule(exp) == ((0, 3000), (3000, 6000))

    # Planned: its student jobs, their resources and placement, its blocks in the teacher-logit files.
    assert [c for c in exp.student_cells() if c[0] == "half"] == [("half", 8), ("half", 16)]
    assert layout.STUDENT.format(exp="parity", strategy="half", width=16) in layout.curve_tables(exp)
    assert {"parity/half/w8", "parity/half/w16"} <= {j.name for j in placement.jobs(model)}
    ce = exp.strategy("ce")
    assert model.reads_logit_stage(half) and not model.reads_logit_stage(ce)
    inline = dataclasses.replace(model, teacher_logits="inline")  # then its job computes the targets
    cost = {st.name: resources.students_compute_s(inline, exp, st, 16, "cpu") for st in (half, ce)}
    targets = exp.students.steps * len(exp.students.seeds) * exp.teacher.width / resources.FORWARD_CPU
    assert cost["half"] - cost["ce"] == pytest.approx(targets)

    # Trained, on the smoke run's chosen teacher: the targets follow its schedule.
    res = smoke_run / "results"
    teacher = json.loads((res / "parity/teacher/selected.json").read_text())
    ckpts = res / f"parity/teacher/{teacher['teacher']}/checkpoints"
    out = tmp_path / "w16.parquet"
    study.run_students(model, "parity", "half", 16, teacher["teacher"], str(ckpts), str(out))
    table = pd.read_parquet(out)
    assert len(table) == len(exp.students.lrs) * len(exp.students.seeds) * (6000 // 500 + 1)
    late = table[table.step > 3000]
    early = table[(table.step > 0) & (table.step <= 3000)]
    assert set(early.teacher_checkpoint) == {3000} and set(late.teacher_checkpoint) == {6000}

    # Tabulated and tested: a summary row with its p-value against CE, and its own claim.
    curves = pd.concat([pd.read_parquet(res / "curves.parquet"), table], ignore_index=True)
    s = summary.summarize(curves, model).set_index(["experiment", "width", "strategy"])
    row = s.loc[("parity", 16, "half")]
    times = survival.run_times(curves)
    t95 = times[(times.experiment == "parity") & (times.width == 16) & np.isclose(times.threshold, 0.95)]
    want = survival.logrank(t95[t95.strategy == "half"], t95[t95.strategy == "ce"])[1]
    assert row.p_vs_ce_95 == pytest.approx(want)
    comp = survival.comparisons(times, model)
    mine = comp[(comp.strategy == "half") & (comp.width == 16) & np.isclose(comp.threshold, 0.95)]
    assert list(mine.baseline) == ["ce"] and list(mine.claim) == ["halfway vs ce"]
    assert mine.p_value.iloc[0] == pytest.approx(want)

    # Drawn with the main strategies (its figure group), as a line of its own.
    data = figures.figure_data(res / "curves.parquet", res / "probe.parquet", model, teacher)
    data = figures.FigureData(curves, data.probe, exp, teacher)
    fig = figures.DRAWINGS["strategies"](data, width="largest")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == [st.name for st in exp.in_figure_group("main")]
    assert "half" in legend


@pytest.mark.slow
def test_a_renamed_ce_strategy_keeps_its_p_values_and_speed_ups(smoke_run):
    """The summary finds the baseline by its kind, not by the name 'ce'."""
    curves = pd.read_parquet(smoke_run / "results/curves.parquet")
    cfg = C.validate_config(yaml.safe_load(SMOKE.read_text()))
    before = summary.summarize(curves, cfg)
    renamed = copy.deepcopy(cfg)
    for exp in renamed["experiments"].values():
        for st in exp["strategies"]:
            if st["name"] == "ce":
                st["name"] = "labels"
    after = summary.summarize(curves.replace({"strategy": {"ce": "labels"}}), renamed)
    after = after.assign(strategy=after.strategy.replace({"labels": "ce"}))
    key = ["experiment", "width", "strategy"]
    before, after = before.sort_values(key, ignore_index=True), after.sort_values(key, ignore_index=True)
    assert before.p_vs_ce_95.notna().sum() == (before.strategy != "ce").sum()  # every non-baseline row
    pd.testing.assert_frame_equal(before, after)


def test_no_module_outside_the_model_dispatches_on_a_strategy_kind():
    """What a kind means is its class's: no comparison with a kind's name anywhere else in the package."""
    names = set(S.KINDS)
    offenders = []
    for path in sorted((ROOT / "workflow/progdistill").rglob("*.py")):
        if path.name == "strategies.py" or path.parent.name == "theory":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in names:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not offenders, offenders


def test_the_model_reads_every_setting_from_the_validated_configuration():
    model = C.load_study(yaml.safe_load((ROOT / "config.yaml").read_text()))
    exp = model.experiment("hierarchical")
    assert exp.task.num_classes == 8 and exp.task.tree_depth == 3
    assert exp.teacher.checkpoint_steps[:3] == [0, 10000, 20000] and exp.teacher.ids == ["lr0.02_s0"]
    assert exp.baseline.name == "ce" and [st.name for st in exp.in_figure_group("main")] == [
        "ce",
        "oneshot_final",
        "progressive",
        "progressive_lowT",
    ]
    assert exp.candidate_checkpoints() == [40000, 80000, 100000, 120000, 130000, 150000]
    three = exp.strategy("3shot_40k_100k")
    assert three.shots == 3 and three.segment_steps() == [50000, 50000]
    assert three.schedule(exp) == ((0, 40000), (50000, 100000), (100000, 200000))
    assert exp.selection == {
        "start": 0.1,
        "middle": 0.5,
        "end": 0.9,
        "flat_z": 3.0,
        "stage_share": 0.25,
        "stage_gain": 0.1,
    }
    parity = model.experiment("parity")
    assert parity.task.tree_depth is None and parity.needs_selection and exp.needs_selection
    assert model.uses_logit_stage(parity) and parity.students.runs == 20
