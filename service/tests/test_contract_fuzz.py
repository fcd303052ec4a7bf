"""The OpenAPI contract matches the behaviour: schemathesis fuzzes the app in-process.

No network: schemathesis drives the ASGI app directly (lifespan included). The example
budget is fixed and derandomized so the run is bounded and repeatable.
"""

import schemathesis
from hypothesis import HealthCheck, settings

from app.config import Settings
from app.main import create_app

MAX_EXAMPLES = 100  # per operation: ~300 requests, ~6 s here (30 never sent a 400-worthy body)

# Explicit settings: the caller's FAULT_* or DATABASE_URL must not leak into the contract run.
app = create_app(Settings(database_url=None, redis_url=None, fault_error_rate=0.0,
                          fault_extra_latency_ms=0, fault_readiness_fail=False))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_honours_its_contract(case: schemathesis.Case) -> None:
    # Every built-in check is on by default (the CLI's `--checks all`): no server error,
    # documented status codes and bodies, positive data accepted, negative data rejected,
    # `Allow` on 405. Generation covers both valid and invalid inputs.
    case.call_and_validate()
