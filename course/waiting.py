"""Waiting until something is ready: one helper and one error for the whole course.

Every wait of the course (a server that starts, a target that turns «up», an alert that
fires, a CRD that is established) polls a probe until a condition holds, stops early when
the thing it waits for has died, and, when time runs out, says what it saw last. That
loop lives here, on tenacity (the field's retry library), instead of one hand-written
``while time.monotonic() < deadline`` per module.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import tenacity

T = TypeVar("T")


class NotReady(RuntimeError):
    """Something did not become ready in time (or died while we waited).

    ``last`` is the probe's last value, or the last expected exception it raised;
    ``gave_up`` is "tiempo" or "terminado" (``alive()`` turned false)."""

    def __init__(self, message: str, *, last: Any = None, gave_up: str = "tiempo"):
        super().__init__(message)
        self.last = last
        self.gave_up = gave_up


def wait_for(probe: Callable[[], T], *, timeout: float, interval: float = 0.2,
             until: Callable[[T], bool] = bool, errors: tuple[type[BaseException], ...] = (),
             alive: Callable[[], bool] | None = None, what: str = "la espera") -> T:
    """Call ``probe()`` every ``interval`` s until ``until(value)`` holds; return that value.

    Exceptions of the types in ``errors`` mean "not yet" (any other one propagates).
    Raises :class:`NotReady` when ``timeout`` s pass, or at once when ``alive()`` turns
    false; its ``last`` is what the probe returned or raised the last time.
    """
    dead = (lambda state: not alive()) if alive is not None else tenacity.stop_never
    retry = tenacity.retry_if_result(lambda value: not until(value))
    if errors:
        retry = retry | tenacity.retry_if_exception_type(errors)
    retrying = tenacity.Retrying(
        stop=tenacity.stop_any(tenacity.stop_after_delay(timeout), dead),
        wait=tenacity.wait_fixed(interval), retry=retry, reraise=False)
    if alive is not None and not alive():
        raise NotReady(f"{what}: lo esperado ya no está en marcha.", gave_up="terminado")
    try:
        return retrying(probe)
    except tenacity.RetryError as exc:
        attempt = exc.last_attempt
        last = attempt.exception() if attempt.failed else attempt.result()
        gave_up = "terminado" if alive is not None and not alive() else "tiempo"
        reason = "dejó de estar en marcha" if gave_up == "terminado" else f"no llegó en {timeout:g} s"
        raise NotReady(f"{what}: {reason} (lo último: {describe(last)}).",
                       last=last, gave_up=gave_up) from None


def describe(value: Any) -> str:
    """A short Spanish rendering of a probe's last value or exception, for messages."""
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}" if str(value) else type(value).__name__
    text = repr(value)
    return text if len(text) <= 200 else text[:199] + "…"
