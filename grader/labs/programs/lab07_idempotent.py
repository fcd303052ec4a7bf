"""Run by lab07's «logs.idempotente» check inside the student's service folder: configure
the student's logging twice, as a reloaded app or a test suite would, then log one
structlog event and one standard-library line; each must come out once."""
import logging

import structlog
from app.logging_config import configure_logging

for _ in range(2):
    configure_logging("INFO", json_logs=True, service="catalogo-idempotente", version="0.0.2")
structlog.stdlib.get_logger("corrector.idempotente").info("evento_tras_dos_configuraciones")
logging.getLogger("corrector.idempotente").warning("linea_estandar_tras_dos_configuraciones")
