"""course.waiting: the one wait helper of the course (pure, fast)."""
import itertools

import pytest

from course import processes, prom
from course.waiting import NotReady, wait_for


def test_returns_the_first_value_that_satisfies_the_condition():
    counter = itertools.count()
    assert wait_for(lambda: next(counter), until=lambda n: n >= 3, timeout=5, interval=0) == 3


def test_expected_errors_mean_not_yet_and_others_propagate():
    calls = iter([ConnectionError("rechazada"), ConnectionError("rechazada"), "listo"])

    def probe():
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert wait_for(probe, errors=(ConnectionError,), timeout=5, interval=0) == "listo"
    with pytest.raises(KeyError):
        wait_for(lambda: {}["x"], errors=(ConnectionError,), timeout=5, interval=0)


def test_timeout_says_what_it_saw_last():
    with pytest.raises(NotReady) as err:
        wait_for(lambda: "HTTP 503", until=lambda v: v == "HTTP 200", timeout=0.3,
                 interval=0.05, what="El registro")
    assert err.value.last == "HTTP 503" and err.value.gave_up == "tiempo"
    assert str(err.value).startswith("El registro: no llegó en 0.3 s") and "HTTP 503" in str(err.value)


def test_last_expected_exception_is_kept():
    def refused():
        raise ConnectionRefusedError("puerto cerrado")

    with pytest.raises(NotReady) as err:
        wait_for(refused, errors=(OSError,), timeout=0.2, interval=0.05)
    assert isinstance(err.value.last, ConnectionRefusedError)
    assert "ConnectionRefusedError: puerto cerrado" in str(err.value)


def test_a_dead_process_stops_the_wait_at_once():
    state = {"alive": True, "calls": 0}

    def probe():
        state["calls"] += 1
        state["alive"] = state["calls"] < 2  # dies after the first call
        return 0

    with pytest.raises(NotReady) as err:
        wait_for(probe, alive=lambda: state["alive"], timeout=30, interval=0.01)
    assert err.value.gave_up == "terminado" and state["calls"] == 2
    with pytest.raises(NotReady, match="ya no está en marcha"):
        wait_for(lambda: 1, alive=lambda: False, timeout=30)


def test_one_not_ready_error_for_the_whole_course():
    assert processes.NotReady is NotReady and prom.NotReady is NotReady
