import pytest

import app
from app.config import Settings, SettingsError, load_settings
from app.main import create_app


def test_defaults() -> None:
    settings = load_settings()
    assert settings.service_name == "catalogo"
    assert settings.environment == "production"
    assert settings.log_level == "INFO"
    assert settings.json_logs is True
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.app_version == app.__version__ == "1.0.0"
    assert settings.fault_readiness_fail is False
    assert settings.fault_error_rate == 0.0
    assert settings.fault_extra_latency_ms == 0
    assert settings.access_log is False  # one line per request: peticion_terminada


def test_every_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "SERVICE_NAME": "inventario",
        "ENVIRONMENT": "Development",
        "LOG_LEVEL": "debug",
        "JSON_LOGS": "false",
        "ACCESS_LOG": "true",
        "DATABASE_URL": "postgresql://u:p@db:5432/catalogo",
        "REDIS_URL": "redis://cache:6379/0",
        "APP_VERSION": "2.3.4",
        "FAULT_READINESS_FAIL": "true",
        "FAULT_ERROR_RATE": "0.25",
        "FAULT_EXTRA_LATENCY_MS": "150",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    assert load_settings().model_dump() == {
        "service_name": "inventario",
        "environment": "development",
        "log_level": "DEBUG",
        "json_logs": False,
        "access_log": True,
        "database_url": "postgresql://u:p@db:5432/catalogo",
        "redis_url": "redis://cache:6379/0",
        "app_version": "2.3.4",
        "fault_readiness_fail": True,
        "fault_error_rate": 0.25,
        "fault_extra_latency_ms": 150,
    }


def test_empty_urls_mean_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("REDIS_URL", "")
    settings = load_settings()
    assert settings.database_url is None
    assert settings.redis_url is None


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FAULT_ERROR_RATE", "1.5", "debe estar entre 0 y 1"),
        ("FAULT_ERROR_RATE", "-0.1", "debe estar entre 0 y 1"),
        ("FAULT_ERROR_RATE", "mucho", "debe ser un número"),
        ("FAULT_EXTRA_LATENCY_MS", "-1", "no puede ser negativa"),
        ("FAULT_EXTRA_LATENCY_MS", "1.5", "debe ser un número entero"),
        ("FAULT_READINESS_FAIL", "quizás", "debe ser un booleano"),
        ("JSON_LOGS", "a veces", "debe ser un booleano"),
        ("ENVIRONMENT", "staging", "debe ser uno de: development, production"),
        ("LOG_LEVEL", "verbose", "debe ser uno de: DEBUG"),
        ("DATABASE_URL", "mysql://u:secreto@db/catalogo", "debe empezar por postgresql://"),
        ("REDIS_URL", "http://u:secreto@cache", "debe empezar por redis://"),
    ],
)
def test_invalid_values_fail_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as excinfo:
        create_app()
    text = str(excinfo.value)
    assert text.startswith("Configuración no válida:")
    assert variable in text
    assert message in text
    assert "secreto" not in text  # URLs may carry passwords


def test_several_errors_are_reported_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULT_ERROR_RATE", "2")
    monkeypatch.setenv("FAULT_EXTRA_LATENCY_MS", "-5")
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert "FAULT_ERROR_RATE='2'" in str(excinfo.value)
    assert "FAULT_EXTRA_LATENCY_MS='-5'" in str(excinfo.value)


def test_direct_construction_validates_too() -> None:
    with pytest.raises(ValueError, match="debe estar entre 0 y 1"):
        Settings(fault_error_rate=3)


def test_version_falls_back_when_the_file_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setattr(app, "_VERSION_FILE", tmp_path / "VERSION")
    assert app._read_version() == "0.0.0+desconocida"
    (tmp_path / "VERSION").write_text("3.1.4\n")
    assert app._read_version() == "3.1.4"
