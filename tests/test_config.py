"""Bad configurations fail before any compute, with a message naming the key, the value and what is valid."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from progdistill import config as C

ROOT = Path(__file__).resolve().parents[1]
SMOKE = yaml.safe_load((ROOT / "workflow/configs/smoke.yaml").read_text())


def _exp(cfg):
    return cfg["experiments"]["parity"]


def _strat(i):
    return lambda c: _exp(c)["strategies"][i]


CASES = [
    ("d_gt_n", lambda c: _exp(c)["task"].update(d=20), "d = 20 exceeds n = 12"),
    (
        "support_range",
        lambda c: _exp(c)["task"].update(support=[0, 5, 40], d=3),
        "out of range; valid: 0 .. 11",
    ),
    ("support_repeat", lambda c: _exp(c)["task"].update(support=[1, 1, 2], d=3), "repeats a coordinate"),
    ("width_zero", lambda c: _exp(c)["teacher"].update(width=0), "teacher.width = 0 is invalid"),
    ("width_negative", lambda c: _exp(c)["students"].update(widths=[8, -16]), "students.widths[1] = -16"),
    ("width_type", lambda c: _exp(c)["students"].update(widths=["8"]), "students.widths[0] = '8' is invalid"),
    ("steps_zero", lambda c: _exp(c)["students"].update(steps=0), "students.steps = 0 is invalid"),
    ("steps_float", lambda c: _exp(c)["teacher"].update(steps=1.5), "teacher.steps = 1.5 is invalid"),
    ("lr_zero", lambda c: _exp(c)["teacher"].update(lrs=[0.0]), "teacher.lrs[0] = 0.0 is invalid"),
    ("lr_negative", lambda c: _exp(c)["students"].update(lrs=[-0.1]), "students.lrs[0] = -0.1 is invalid"),
    ("lr_string", lambda c: _exp(c)["students"].update(lrs=["fast"]), "students.lrs[0] = 'fast' is invalid"),
    ("tau_zero", lambda c: _strat(1)(c).update(temperature=0), "strategies[1].temperature = 0 is invalid"),
    ("tau_negative", lambda c: _strat(1)(c).update(temperature=-1.0), "strategies[1].temperature = -1.0"),
    ("pshot_unsaved", lambda c: _strat(3)(c).update(checkpoints=[2500]), "never saves steps [2500]"),
    (
        "oneshot_unsaved",
        lambda c: _strat(1)(c).update(checkpoint=1234),
        "checkpoint = 1234: the teacher never",
    ),
    (
        "interval_not_dividing",
        lambda c: _exp(c)["teacher"].update(checkpoint_every=4000),
        "checkpoint_every = 4000 does not divide teacher.steps = 6000",
    ),
    (
        "progressive_interval",
        lambda c: _strat(2)(c).update(interval=1500),
        "interval = 1500 is not a multiple",
    ),
    (
        "unknown_kind",
        lambda c: _strat(0)(c).update(kind="magic"),
        "kind = 'magic' is invalid: 'magic' is not one of "
        "['ce', 'oneshot', 'progressive', 'pshot', 'paced', 'extraction']",
    ),
    ("duplicate_names", lambda c: _strat(1)(c).update(name="ce"), "duplicate strategy names ['ce']"),
    (
        "blocks_do_not_fit",
        lambda c: _exp(c).update(
            task={"kind": "hierarchical", "n": 12, "depth": 3, "k": 2}, probe={"degrees": [1]}
        ),
        "7 blocks of k = 2 coordinates need n >= 14, but n = 12",
    ),
    ("unknown_key", lambda c: _exp(c)["teacher"].update(widht=3), "'widht' was unexpected"),
    ("missing_key", lambda c: _exp(c)["students"].pop("seeds"), "'seeds' is a required property"),
    ("bad_device", lambda c: c.update(device="tpu"), "device = 'tpu' is invalid"),
    ("bad_backend", lambda c: c.update(backend="fortran"), "backend = 'fortran' is invalid"),
    ("pshot_steps_too_long", lambda c: _strat(3)(c).update(steps=6000), "leaving none of students.steps"),
    ("probe_degree_above_d", lambda c: _exp(c)["probe"].update(degrees=[1, 4]), "degrees [4] exceed"),
    ("key_for_other_kind", lambda c: _strat(0)(c).update(interval=1000), "key 'interval' does not apply"),
    (
        "pshot_key_on_oneshot",
        lambda c: _strat(1)(c).update(steps=1000),
        "strategies[1]: key 'steps' does not apply to kind 'oneshot'",
    ),
    (
        "progressive_without_interval",
        lambda c: _strat(2)(c).pop("interval"),
        "strategies[2]: 'interval' is a required property",
    ),
    (
        "pshot_without_steps",
        lambda c: _strat(3)(c).pop("steps"),
        "strategies[3]: 'steps' is a required property",
    ),
    ("ce_with_alpha", lambda c: _strat(0)(c).update(alpha=0.5), "strategies[0].alpha = 0.5 is invalid"),
    # The authors' protocol (lr_schedule, warmup, train_set_size): key, value and what is valid.
    (
        "schedule_name",
        lambda c: _exp(c)["students"].update(lr_schedule="linear"),
        "students.lr_schedule = 'linear' is invalid: 'linear' is not one of ['constant', 'cosine']",
    ),
    (
        "warmup_one",
        lambda c: _exp(c)["teacher"].update(lr_schedule="cosine", warmup=1.0),
        "teacher.warmup = 1.0 is invalid",
    ),
    ("warmup_negative", lambda c: _exp(c)["students"].update(warmup=-0.1), "valid: 0 <= warmup < 1"),
    ("warmup_string", lambda c: _exp(c)["students"].update(warmup="6%"), "students.warmup = '6%' is invalid"),
    (
        "train_set_zero",
        lambda c: _exp(c)["students"].update(train_set_size=0),
        "train_set_size = 0 is invalid",
    ),
    (
        "train_set_huge",  # the epoch permutation is int32
        lambda c: _exp(c)["students"].update(train_set_size=2**31),
        "students.train_set_size = 2147483648 is invalid: 2147483648 is greater than the maximum",
    ),
    (
        "train_set_fraction",
        lambda c: _exp(c)["teacher"].update(train_set_size=2.5),
        "teacher.train_set_size = 2.5 is invalid: 2.5 is not of type 'integer', 'null'",
    ),
    (
        "train_set_yaml_8e6",  # YAML 1.1 reads 8e6 as a string
        lambda c: _exp(c)["students"].update(train_set_size="8e6"),
        "valid: an integer from 1 to 2^31 - 1",
    ),
]


@pytest.mark.parametrize("name,mutate,message", CASES, ids=[c[0] for c in CASES])
def test_bad_config_is_rejected_with_a_clear_message(name, mutate, message):
    cfg = copy.deepcopy(SMOKE)
    mutate(cfg)
    with pytest.raises(C.ConfigError) as err:
        C.validate_config(cfg)
    assert message in str(err.value)


def test_cuda_is_accepted_on_a_machine_without_a_gpu():
    """The DAG is often built on a GPU-less login node for GPU nodes: device cuda is checked in the job."""
    cfg = copy.deepcopy(SMOKE)
    cfg["device"] = "cuda"
    assert C.validate_config(cfg)["device"] == "cuda"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_cuda_job_on_a_node_without_a_gpu_fails_clearly():
    from progdistill.engine import resolve_device

    for name in ("cuda", "cuda:1"):
        with pytest.raises(RuntimeError, match=r"has no usable CUDA device .* run this job on a GPU node"):
            resolve_device(name)
    assert resolve_device("auto").type == "cpu"


def test_per_rule_placement_needs_device_auto():
    cfg = copy.deepcopy(SMOKE)
    cfg["device"] = "cpu"
    cfg["placement"] = {"students": "gpu"}
    with pytest.raises(C.ConfigError, match=r"placement = \{'students': 'gpu'\} with device = 'cpu'"):
        C.validate_config(cfg)
    cfg["placement"] = {"students": "fast"}
    with pytest.raises(C.ConfigError, match="placement.students"):
        C.validate_config(cfg)


def test_shipped_configs_are_valid():
    paths = [ROOT / "config.yaml", *sorted((ROOT / "workflow/configs").rglob("*.yaml"))]
    # Every preset the README lists is shipped, and every shipped preset is listed there.
    listed = set(re.findall(r"workflow/configs/([\w-]+)\.yaml", (ROOT / "README.md").read_text()))
    assert listed == {p.stem for p in paths if p.parent.name == "configs"}
    assert {"smoke", "paper", "authors", "paper-task", "scaling", "theory"} <= listed
    for path in paths:
        cfg = C.validate_config(yaml.safe_load(path.read_text()))
        assert cfg["experiments"] or cfg.get("theory"), path


def test_defaults_are_filled():
    cfg = C.validate_config(SMOKE)
    st = {s["name"]: s for s in _exp(cfg)["strategies"]}
    assert st["ce"]["alpha"] == 1.0 and st["progressive"]["alpha"] == 0.0
    assert st["progressive"]["temperature"] == 1.0
    for role in ("teacher", "students"):  # the online protocol
        assert {k: _exp(cfg)[role][k] for k in ("lr_schedule", "warmup", "train_set_size")} == {
            "lr_schedule": "constant",
            "warmup": 0,
            "train_set_size": None,
        }


def test_warmup_with_a_constant_schedule_is_allowed_and_sizes_become_integers():
    """Warm-up then constant (HF get_constant_schedule_with_warmup; the authors' teacher script allows it)."""
    cfg = copy.deepcopy(SMOKE)
    _exp(cfg)["teacher"].update(lr_schedule="constant", warmup=0.1, train_set_size=8000000.0)
    t = _exp(C.validate_config(cfg))["teacher"]
    assert t["warmup"] == 0.1 and t["train_set_size"] == 8000000 and type(t["train_set_size"]) is int


def test_paper_strategies_schedules():
    paper = C.load_study(yaml.safe_load((ROOT / "workflow/configs/paper.yaml").read_text()))
    exp = paper.experiment("parity")
    assert exp.strategy("oneshot_10M").schedule(exp) == ((0, 10_000_000),)
    assert exp.strategy("2shot_6.5M").schedule(exp) == ((0, 6_500_000), (1_000_000, 20_000_000))
    prog = exp.strategy("progressive").schedule(exp)
    assert len(prog) == 40 and prog[1] == (500_000, 500_000) and prog[-1] == (19_500_000, 19_500_000)


def test_workflow_reports_bad_config_without_traceback(tmp_path):
    cfg = copy.deepcopy(SMOKE)
    _exp(cfg)["students"]["widths"] = [0]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--cores",
            "1",
            "--configfile",
            str(bad),
            "-d",
            str(tmp_path),
            "-s",
            str(ROOT / "Snakefile"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "students.widths[0] = 0 is invalid" in out.stderr + out.stdout
    assert "Traceback" not in out.stderr + out.stdout


def test_config_record_validates_back_to_the_same_configuration(tmp_path):
    import yaml

    cfg = C.validate_config(yaml.safe_load(open(ROOT / "config.yaml")))
    C.write_record(cfg, tmp_path / "c.yaml", tmp_path / "c.html")
    again = C.validate_config(yaml.safe_load((tmp_path / "c.yaml").read_text()))
    for exp in cfg["experiments"].values():
        exp.pop("pshot_grid", None)
    assert again == cfg
    assert "<pre>" in (tmp_path / "c.html").read_text()
