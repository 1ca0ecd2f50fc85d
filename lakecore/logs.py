"""Structured logs: JSON lines under ``_meta/logs/``, readable lines on the console.

Every library call that does work (``ingest``, ``build``, ``simulate``, the health checks)
runs inside a ledger step (``lakecore.ledger``), which binds the run id, the step and the
layer into structlog's context variables; every line logged inside carries them. The file
``$LAKEHOUSE_ROOT/_meta/logs/lakehouse-YYYY-MM-DD.jsonl`` gets every line at the chosen
level (``--log-level`` / ``LAKEHOUSE_LOG_LEVEL``, default ``info``); the console (stderr)
gets readable lines at ``warning`` and above, or at the chosen level when one is given.
The progress lines the CLI prints on stdout stay as they are, and are logged too.

No secret is ever logged: a processor replaces the value of every environment variable
whose name says it is a secret (``*SECRET*``, ``*PASSWORD*``, ``*TOKEN*``, ``*_KEY``, ...)
wherever it appears in a line, and every field whose own name says so; so is the password
inside ``LAKEHOUSE_CATALOG``'s URL.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from lakecore.errors import ConfigError
from lakecore.settings import catalog_secrets

#: The stdlib logger every structured line goes through (dbt's own loggers stay apart).
LOGGER_NAME = "lakehouse"
LEVELS = ("debug", "info", "warning", "error")
LEVEL_ENV = "LAKEHOUSE_LOG_LEVEL"
#: Names of environment variables (and of log fields) whose values are secrets.
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|API_?KEY|ACCESS_KEY|"
                         r"PRIVATE|_KEY$|^KEY$|AUTH", re.IGNORECASE)
REDACTED = "***"
#: Secrets shorter than this are not searched for inside text (too many false hits).
_MIN_SECRET = 4


def log_dir(meta: Path) -> Path:
    """The folder of the JSON-lines logs of the lakehouse whose ``_meta`` is ``meta``."""
    return meta / "logs"


def resolve_level(level: str | None = None) -> tuple[str, bool]:
    """The log level to use and whether the user chose it (option, then environment).

    Raises:
        ConfigError: The level is not one of ``LEVELS``.
    """
    chosen = level or _State.override or os.environ.get(LEVEL_ENV)
    if not chosen:
        return "info", False
    if chosen.lower() not in LEVELS:
        raise ConfigError(f"log level {chosen!r} (--log-level / {LEVEL_ENV}): use one of "
                          f"{', '.join(LEVELS)}")
    return chosen.lower(), True


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the environment variables whose names mark them as secrets."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= _MIN_SECRET}
    # The password inside LAKEHOUSE_CATALOG's URL is a secret too (ADR 0021).
    values |= {v for v in catalog_secrets(env) if len(v) >= _MIN_SECRET}
    return sorted(values, key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret value replaced by ``***``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact_secrets(_logger: Any, _name: str, event: MutableMapping[str, Any]
                    ) -> MutableMapping[str, Any]:
    secrets = secret_values()
    for key, value in list(event.items()):
        if SECRET_NAME.search(key) and key not in ("level",):
            event[key] = REDACTED
        elif isinstance(value, str):
            event[key] = redact(value, secrets)
        elif isinstance(value, (list, tuple, dict)):
            event[key] = redact(str(value), secrets)
    return event


def _defaults(_logger: Any, _name: str, event: MutableMapping[str, Any]
              ) -> MutableMapping[str, Any]:
    event.setdefault("run_id", None)
    event.setdefault("step", None)
    event.setdefault("layer", None)
    return event


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    _defaults,
    _redact_secrets,
]


class _DailyFile(logging.Handler):
    """Append each line to ``lakehouse-<UTC date>.jsonl``; a failed write is dropped.

    A log line must never stop a run (a full disk already fails the run with one clear
    line of its own), so a line that cannot be written is counted, not raised.
    """

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"lakehouse-{datetime.now(UTC):%Y-%m-%d}.jsonl"
            with path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        except (OSError, ValueError):
            self.dropped += 1


class _NotFileOnly(logging.Filter):
    """Keep lines marked ``file_only`` (a failure the CLI already prints) off the console."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        return not (isinstance(message, dict) and message.get("file_only"))


class _State:
    override: str | None = None
    folder: Path | None = None
    level: str = ""
    file_handler: _DailyFile | None = None
    console_handler: logging.Handler | None = None


@contextmanager
def level_override(level: str | None) -> Iterator[None]:
    """Use ``level`` (``--log-level``) instead of ``LAKEHOUSE_LOG_LEVEL`` inside the block."""
    saved, _State.override = _State.override, level
    try:
        yield
    finally:
        _State.override = saved


def configure(meta: Path, level: str | None = None) -> Path:
    """Send structured lines to ``meta/logs`` and the console; return the log folder.

    Idempotent: calling it again for the same folder and level changes nothing, for
    another folder (another lakehouse root in the same process) it re-points the file.

    Raises:
        ConfigError: ``level`` (or ``LAKEHOUSE_LOG_LEVEL``) is not a level.
    """
    name, chosen = resolve_level(level)
    folder = log_dir(meta)
    logger = logging.getLogger(LOGGER_NAME)
    if _State.folder == folder and _State.level == f"{name}{chosen}":
        return folder
    for handler in (_State.file_handler, _State.console_handler):
        if handler is not None:
            logger.removeHandler(handler)
    file_handler = _DailyFile(folder)
    file_handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    _drop_flags, structlog.processors.dict_tracebacks,
                    structlog.processors.JSONRenderer(default=str)],
        foreign_pre_chain=_SHARED))
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(name.upper() if chosen else "WARNING")
    console.addFilter(_NotFileOnly())
    console.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _drop_flags,
                    structlog.dev.ConsoleRenderer(colors=False)],
        foreign_pre_chain=_SHARED))
    logger.addHandler(file_handler)
    logger.addHandler(console)
    logger.setLevel(name.upper())
    logger.propagate = False
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    _State.folder, _State.level = folder, f"{name}{chosen}"
    _State.file_handler, _State.console_handler = file_handler, console
    return folder


def _drop_flags(_logger: Any, _name: str, event: MutableMapping[str, Any]
                ) -> MutableMapping[str, Any]:
    event.pop("file_only", None)
    return event


def get_logger(component: str) -> Any:
    """A structlog logger for ``component``; its lines go nowhere until ``configure``."""
    return structlog.get_logger(LOGGER_NAME).bind(component=component)


def _quiet_until_configured() -> None:
    """Route structlog through the stdlib logger, which drops lines until ``configure``."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
    if not structlog.is_configured():
        structlog.configure(
            processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=False,
        )


_quiet_until_configured()
