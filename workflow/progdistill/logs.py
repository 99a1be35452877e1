"""Logging for workflow jobs: everything to the rule's log file (and stderr), uncaught errors included."""

from __future__ import annotations

import logging
import sys

from . import jobtime


def setup(log_path: str | None, level: int = logging.INFO) -> None:
    jobtime.start()  # the job's time split, logged when it ends
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=level, handlers=handlers, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    def hook(exc_type, exc, tb):
        logging.getLogger("progdistill").error("job failed", exc_info=(exc_type, exc, tb))

    sys.excepthook = hook
