"""structlog + stdlib logging: one stdout stream, same format for every logger.

Two paths write to stdout. The service's own events (structlog) are rendered natively:
the processor chain ends in orjson and a BytesLogger writes the bytes, with no stdlib
LogRecord, handler or formatter in between (several times cheaper: notebook 07, 8.1). Foreign
records (uvicorn, libraries, plain ``logging`` calls) still go through the stdlib handler,
whose ProcessorFormatter applies the same processors, so every line has the same shape.
"""

import functools
import logging
import re
import sys
from datetime import UTC, datetime
from typing import BinaryIO, TextIO

import orjson
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


@functools.lru_cache(maxsize=1024)
def _sensitive_keys(keys: tuple[object, ...]) -> tuple[str, ...]:
    # The keys of an event come from the code that logs it: a few sets, each judged once.
    return tuple(key for key in keys if isinstance(key, str) and _is_sensitive(key))


def _redact_pair(match: re.Match[str]) -> str:
    return f"{match[1]}={_REDACTED}" if _is_sensitive(match[1]) else match[0]


def _drop_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # Uvicorn passes an ANSI-coloured copy of its message as `extra`.
    event_dict.pop("color_message", None)
    return event_dict


def _access_fields(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # Uvicorn's access line keeps method and path only in its message text (the record's
    # args): give them the field names of the service's own lines, so a shipper can filter
    # both on `http_path` (15.9 drops the probes' lines this way). Not the status: one line
    # per request (peticion_terminada) carries status_code, and 5xx counts stay exact. The
    # args of other records are dropped: they are already in the message.
    args = event_dict.pop("positional_args", ())
    record = event_dict.get("_record")
    if (record is not None and record.name == "uvicorn.access"
            and isinstance(args, tuple) and len(args) == 5):
        _, method, path, _, _ = args
        event_dict.setdefault("http_method", method)
        event_dict.setdefault("http_path", str(path).split("?", 1)[0])
    return event_dict


def _redacted(value: object) -> object:
    # Payloads logged as fields (a dict of changes, a list of sessions) nest secrets at
    # any depth: walk dicts, lists and tuples, copying only what holds something to hide.
    if isinstance(value, dict):
        return {k: _REDACTED if isinstance(k, str) and _is_sensitive(k) else _redacted(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v) for v in value]
    if isinstance(value, str) and "=" in value:
        return _KEY_VALUE.sub(_redact_pair, value)
    return value


def _redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key in _sensitive_keys(tuple(event_dict)):
        event_dict[key] = _REDACTED  # a string without "=": the loop below leaves it
    # Uvicorn's access line carries the full query string (`/login?password=...`).
    for key, value in event_dict.items():
        if isinstance(value, str):  # the common case, inline: this runs on every line
            if "=" in value:
                event_dict[key] = _KEY_VALUE.sub(_redact_pair, value)
        elif isinstance(value, (dict, list, tuple)):
            event_dict[key] = _redacted(value)
    return event_dict


def _add_identity(service: str | None, version: str | None) -> Processor:
    """Which service and release wrote each line: logs of many services share one store."""
    identity = {k: v for k, v in (("servicio", service), ("version", version)) if v}

    def add_identity(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        # The event's own fields win (servicio_iniciado states them itself).
        return {**identity, **event_dict}

    return add_identity


def _timestamp(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # A datetime that orjson writes itself, in C, as ISO 8601 ending in "Z" (OPT_UTC_Z):
    # the text of TimeStamper(fmt="iso", utc=True) without formatting it in Python first.
    event_dict["timestamp"] = datetime.now(UTC)
    return event_dict


def _orjson_text(obj: object, **kwargs: object) -> str:
    return orjson.dumps(obj, **kwargs).decode()


def _encode(_: WrappedLogger, __: str, line: str) -> bytes:
    # The console renderer returns text; the BytesLogger writes bytes.
    return line.encode()


class _TextOutput:
    """A text stream seen as a binary one: a Jupyter kernel's sys.stdout has no `.buffer`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, data: bytes) -> None:
        self._stream.write(data.decode())

    def flush(self) -> None:
        self._stream.flush()


@functools.lru_cache(maxsize=8)
def _binary(stream: TextIO) -> BinaryIO:
    return getattr(stream, "buffer", None) or _TextOutput(stream)  # type: ignore[return-value]


def _stdout_logger(*args: object) -> structlog.BytesLogger:
    # A logger per call (loggers are not cached, see below) that writes to the current
    # sys.stdout, and carries the name given to get_logger(__name__) for add_logger_name.
    return structlog.BytesLogger(_binary(sys.stdout), name=str(args[0]) if args else None)


def configure_logging(level: str = "INFO", json_logs: bool = True, *,
                      service: str | None = None, version: str | None = None) -> None:
    """Route structlog and stdlib records to stdout in one format (idempotent); every line
    names the service and version that wrote it, when given."""
    # What the event and its context say...
    context: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.StackInfoRenderer(),
    ]
    # ...and what every line gets, added after the redaction: it holds no secret, and a
    # shorter event is a cheaper one to check (the redaction runs on every line).
    stamps: list[Processor] = [
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        _timestamp if json_logs else structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if service or version:
        stamps.append(_add_identity(service, version))
    if json_logs:
        # ConsoleRenderer formats exceptions itself; JSON needs them as a string field.
        clean: list[Processor] = [structlog.processors.format_exc_info, _redact_secrets]
        # orjson returns bytes (UTF-8, no \u escapes): straight to the BytesLogger...
        native: list[Processor] = [
            structlog.processors.JSONRenderer(serializer=orjson.dumps, option=orjson.OPT_UTC_Z)]
        # ...while ProcessorFormatter must return text.
        foreign: list[Processor] = [
            structlog.processors.JSONRenderer(serializer=_orjson_text, option=orjson.OPT_UTC_Z)]
    else:
        clean = [_redact_secrets]
        native = [structlog.dev.ConsoleRenderer(), _encode]
        foreign = [structlog.dev.ConsoleRenderer()]

    structlog.configure(
        processors=[*context, *clean, *stamps, *native],
        # Calls below the level are no-ops decided once here (no level check per call).
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=_stdout_logger,
        # Not cached: a cached logger keeps the level and stdout of its first use, and the
        # tests and notebooks reconfigure in one process. Costs about 1 µs per call.
        cache_logger_on_first_use=False,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*context, *stamps, structlog.stdlib.ExtraAdder(), _access_fields],
        pass_foreign_args=True,  # read by _access_fields
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _drop_color_message,
            *clean,
            *foreign,
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
