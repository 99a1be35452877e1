"""The configuration, in three parts: ``validation`` (the schema, its defaults, the checks a schema cannot
state and their messages), ``experiment`` (the study model the rest of the package works with: Study,
Experiment, and the strategies of progdistill.strategies) and ``derived`` (rerun digests, named seeds, the
record of the configuration as it ran). Callers import what they need from here."""

from .derived import (
    digest,
    logits_spec,
    probe_spec,
    record_form,
    seeds_for,
    student_seeds,
    student_spec,
    student_stream,
    teacher_seeds,
    teacher_spec,
    write_record,
)
from .experiment import Experiment, Study, as_study
from .validation import ConfigError, load_schema, schema_default, validate_config

__all__ = [
    "ConfigError",
    "Experiment",
    "Study",
    "as_study",
    "digest",
    "load_schema",
    "logits_spec",
    "probe_spec",
    "record_form",
    "schema_default",
    "seeds_for",
    "student_seeds",
    "student_spec",
    "student_stream",
    "teacher_seeds",
    "teacher_spec",
    "validate_config",
    "write_record",
]


def load_study(cfg: dict) -> Study:
    """Validate a configuration dict and parse it into the study model."""
    return Study.from_config(validate_config(cfg))
