"""structlog + stdlib logging: one stdout handler, same format for every logger."""

import functools
import logging
import re
import sys

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

# Uvicorn configures these before importing the app; we take them over.
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
_REDACTED = "[REDACTADO]"
_SENSITIVE_KEY = re.compile(r"password|passwd|contraseña|secret|token|api_?key|authorization|cookie",
                            re.IGNORECASE)
# `key=value` pairs inside a text, e.g. the query string in uvicorn's access line. The key
# is judged apart (cached): one regex with the sensitive words inside a `[\w.-]*` prefix
# backtracks on every character of every log line.
_KEY_VALUE = re.compile(r"([\w.-]+)=([^&\s\"']+)")


@functools.lru_cache(maxsize=4096)
def _is_sensitive(key: str) -> bool:
    return _SENSITIVE_KEY.search(key) is not None


def _redact_pair(match: re.Match[str]) -> str:
    return f"{match[1]}={_REDACTED}" if _is_sensitive(match[1]) else match[0]


def _drop_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # Uvicorn passes an ANSI-coloured copy of its message as `extra`.
    event_dict.pop("color_message", None)
    return event_dict


def _redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # Uvicorn's access line carries the full query string (`/login?password=...`).
    for key, value in event_dict.items():
        if _is_sensitive(key):
            event_dict[key] = _REDACTED
        elif isinstance(value, str) and "=" in value:
            event_dict[key] = _KEY_VALUE.sub(_redact_pair, value)
    return event_dict


def configure_logging(level: str = "INFO", json_logs: bool = True) -> None:
    """Route structlog and stdlib records through one stdout handler (idempotent)."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    structlog.configure(
        # filter_by_level first: a disabled DEBUG call then costs one level check.
        processors=[structlog.stdlib.filter_by_level, *shared,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Safe to cache: output and levels live in the stdlib handler and loggers, which a
        # new call to this function reconfigures; the processor chain is always the same.
        cache_logger_on_first_use=True,
    )

    # ConsoleRenderer formats exceptions itself; JSON needs them as a string field.
    renderer: list[Processor] = (
        [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ]
        if json_logs
        else [structlog.dev.ConsoleRenderer()]
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _drop_color_message,
            _redact_secrets,
            *renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)

    for name in _UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
        # Let LOG_LEVEL (the root level) decide for uvicorn too.
        uvicorn_logger.setLevel(logging.NOTSET)
        # Enabled again: a dictConfig with disable_existing_loggers, or an earlier app
        # with ACCESS_LOG=false (see main.py), may have switched it off.
        uvicorn_logger.disabled = False
