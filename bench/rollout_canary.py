"""Section 15.10: the same bad release (the candidate answers 50 % of /items with 500)
deployed big-bang (100 % at once) and as a canary with automatic rollback (the course's
analysis and plan, deploy/rollout/), under the same real load through HAProxy. Measures
failed user requests in each case (their ratio; goal ≤ 0.10) and the time from the bad
deploy (first weight > 0) to the rollback. A third run takes the other automatic route,
big-bang plus an alert (Prometheus rule → Alertmanager → webhook that sets the weight back
to 0; the files of deploy/rollout/), when the prometheus and alertmanager binaries exist.
One run on this machine.

Run: .venv/bin/python bench/rollout_canary.py   (needs scripts/install_proxy.sh and
Docker or the prometheus binary; ~1 minute)
"""
from __future__ import annotations

import time

from results_io import show_and_save  # sibling module (run as a script)
from course import REPO_ROOT, alerting, env, promstack, rollout
from course import docker as cdocker

BAD = {"FAULT_ERROR_RATE": "0.5"}
WINDOW_S = 12.0  # the big-bang release stays this long: about the canary's whole plan


def failed_after(hits: list[rollout.Hit], start: float, seconds: float) -> int:
    return sum(1 for h in hits if start <= h.t < start + seconds and not 200 <= h.status < 500)


def alert_drill(run: str) -> tuple[list[rollout.Hit], float, float]:
    """The bad release at 100 % at once, rolled back by the alert's webhook: the hits,
    the release time and the rollback time (both on the load generator's clock)."""
    folder = REPO_ROOT / "deploy" / "rollout"
    rule = (folder / "alerta-rollback.yml").read_text()
    routes = (folder / "alertmanager-rollback.yml").read_text()
    with promstack.open_stack(run, kind="local") as local:
        proxy = rollout.Proxy(local.service("catalogo-estable"),
                              local.service("catalogo-candidata", BAD), run=run)
        try:
            with alerting.Receiver(lambda alert: proxy.set_canary_weight(0)) as receiver:
                local.alertmanager(routes.replace("http://rollback.catalogo.svc:8080/rollback",
                                                  receiver.url))
                config = rollout.scrape_config(local.address("catalogo-estable"),
                                               local.address("catalogo-candidata"))
                config += ("rule_files: [alerta-rollback.yml]\nalerting:\n  alertmanagers:\n"
                           f"    - static_configs:\n        - targets: [\"{local.address('alertmanager')}\"]\n")
                local.prometheus(config, {"alerta-rollback.yml": rule}).wait_targets(2)
                with rollout.Load(proxy.url, rate=40) as load:
                    time.sleep(2.0)  # the same warm-up as rollout.drill()
                    deployed = time.monotonic()
                    proxy.set_canary_weight(100)
                    action = receiver.wait_action(timeout=60)
                    time.sleep(max(0.0, deployed + WINDOW_S - time.monotonic()))
        finally:
            proxy.close()
    return load.hits, deployed - load.start_time, action.t - load.start_time


def main() -> None:
    analysis, steps = rollout.reference()
    with cdocker.run_scope() as run:
        with promstack.open_stack(run) as stack:
            canary = rollout.drill(stack, analysis, steps, candidate_env=BAD)
        with promstack.open_stack(run) as stack:
            big_bang = rollout.drill(stack, analysis, steps, candidate_env=BAD,
                                     big_bang_seconds=WINDOW_S)
    # Same window for both: from the moment the bad version first gets traffic.
    canary_start = canary.hits[0].t + 2.0  # drill(): 2 s of warm-up before the release
    canary_failed = failed_after(canary.hits, canary_start, WINDOW_S)
    big_failed = failed_after(big_bang.hits, canary_start, WINDOW_S)
    alert = {}
    if env.has("alertmanager"):
        with cdocker.run_scope() as run:
            hits, deployed, rolled_back = alert_drill(run)
        alert_failed = failed_after(hits, deployed, WINDOW_S)
        alert = {"solicitudes fallidas, de golpe + rollback por alerta": alert_failed,
                 "cociente alerta / de golpe": alert_failed / max(big_failed, 1),
                 "segundos del despliegue malo al rollback por alerta": rolled_back - deployed}
    show_and_save("Canario con reversión automática frente a despliegue de golpe", "rollout_canary", {
        "solicitudes fallidas, de golpe": big_failed,
        "solicitudes fallidas, canario": canary_failed,
        "cociente canario / de golpe (objetivo ≤ 0.10)": canary_failed / max(big_failed, 1),
        "segundos del despliegue malo a la reversión": canary.rollback_seconds or float("nan"),
        **alert,
        "decisión del canario": f"{canary.result.outcome}: {canary.result.reason}",
        "ventana comparada (s)": WINDOW_S,
        "backend": stack.kind,
    })


if __name__ == "__main__":
    main()
