"""Logging set-up shared by the CLI, the server and the bench scripts."""

from __future__ import annotations

import logging
import os

_CONFIGURED = False


def setup_logging(level: str | int | None = None) -> None:
    """Configure the root ``seethrough`` logger once (stderr, concise format)."""
    global _CONFIGURED
    level = level or os.environ.get("SEETHROUGH_LOG", "INFO")
    logger = logging.getLogger("seethrough")
    logger.setLevel(level)
    if not _CONFIGURED:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.propagate = False
        _CONFIGURED = True


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name if name.startswith("seethrough") else f"seethrough.{name}")
