"""Service configuration, read once from environment variables."""

from typing import Literal

from pydantic import ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings

from app import __version__

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_ENVIRONMENTS = ("development", "production")

# Spanish wording for the pydantic errors a mistyped variable usually triggers.
_TYPE_ERRORS = {
    "bool_parsing": "debe ser un booleano (true/false, 1/0)",
    "float_parsing": "debe ser un número",
    "int_parsing": "debe ser un número entero",
    "int_from_float": "debe ser un número entero",
}


class SettingsError(RuntimeError):
    """Raised when the environment holds an invalid configuration."""


class Settings(BaseSettings):
    service_name: str = "catalogo"
    environment: Literal["development", "production"] = "production"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    json_logs: bool = True
    # uvicorn's access line, in JSON with the request id like every other line. Off by
    # default: it repeats what peticion_terminada says (minus the duration), doubles the
    # log volume and, as a stdlib record, costs about twice a native line
    # (bench/service_throughput.py). ACCESS_LOG=true brings it back.
    access_log: bool = False
    database_url: str | None = None
    redis_url: str | None = None
    app_version: str = __version__
    fault_readiness_fail: bool = False
    fault_error_rate: float = 0.0
    fault_extra_latency_ms: int = 0

    @field_validator("environment", mode="before")
    @classmethod
    def _check_environment(cls, value: str) -> str:
        value = str(value).strip().lower()
        if value not in _ENVIRONMENTS:
            raise ValueError(f"debe ser uno de: {', '.join(_ENVIRONMENTS)}")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        value = str(value).strip().upper()
        if value not in _LOG_LEVELS:
            raise ValueError(f"debe ser uno de: {', '.join(_LOG_LEVELS)}")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("debe empezar por postgresql:// o postgres://")
        return value or None

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://")):
            raise ValueError("debe empezar por redis:// o rediss://")
        return value or None

    @field_validator("fault_error_rate")
    @classmethod
    def _check_error_rate(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError("debe estar entre 0 y 1")
        return value

    @field_validator("fault_extra_latency_ms")
    @classmethod
    def _check_extra_latency(cls, value: int) -> int:
        if value < 0:
            raise ValueError("no puede ser negativa")
        return value


def _describe(error: ErrorDetails) -> str:
    field = str(error["loc"][0])
    cause = error.get("ctx", {}).get("error")
    message = str(cause) if cause else _TYPE_ERRORS.get(error["type"], error["msg"])
    # URLs may embed passwords, so their values are never echoed.
    shown = "" if field.endswith("_url") else f"={error.get('input')!r}"
    return f"{field.upper()}{shown}: {message}"


def load_settings() -> Settings:
    """Build the settings, turning validation errors into one clear message."""
    try:
        return Settings()
    except ValidationError as exc:
        details = "\n".join(f"  - {_describe(error)}" for error in exc.errors())
        raise SettingsError(f"Configuración no válida:\n{details}") from None
