"""Run by lab07's «consola.desarrollo» check inside the student's service folder: configure
the student's logging for the console (json_logs=False) and log an event, a foreign
uvicorn line and an exception, so the check can read what a developer would see."""
import logging

import structlog
from app.logging_config import configure_logging

configure_logging("INFO", json_logs=False, service="catalogo-consola", version="0.0.1")
log = structlog.stdlib.get_logger("corrector.consola")
log.info("evento_de_consola", clave="valor")
logging.getLogger("uvicorn.error").info("linea_de_uvicorn_en_consola")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("fallo_en_consola")
print("CONFIGURADO=" + str(structlog.is_configured()))
