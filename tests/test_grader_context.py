"""What a check gets from GradingContext.memo: a fact computed once per grading, its
failure remembered as well, whatever kind it is."""
import pytest

from grader.checks import NotVerifiable
from grader.context import GradingContext, PreconditionFailed
from grader.runner import ExecutionReport


def context(tmp_path) -> GradingContext:
    return GradingContext("lab05", tmp_path, "t15-prueba0", ExecutionReport("ok"))


def test_an_error_of_the_grader_is_computed_once_and_reported_to_every_dependent(tmp_path):
    ctx, calls = context(tmp_path), []

    def start_registry():
        calls.append(1)
        raise RuntimeError("el registro no arrancó" if len(calls) == 1 else "nombre ya en uso")

    for _ in range(3):
        with pytest.raises(RuntimeError, match="el registro no arrancó"):
            ctx.memo("registro", start_registry)
    assert calls == [1]


def test_a_failed_or_unverifiable_fact_is_remembered_too(tmp_path):
    ctx, calls = context(tmp_path), []

    def build():
        calls.append(1)
        raise AssertionError("la imagen no se construye")

    def base_image():
        calls.append(1)
        raise NotVerifiable("falta la imagen base")

    for _ in range(2):
        with pytest.raises(PreconditionFailed, match="no se construye"):
            ctx.memo("imagen", build)
        with pytest.raises(NotVerifiable, match="falta la imagen base"):
            ctx.memo("base", base_image)
    assert len(calls) == 2
    assert ctx.memo("bien", lambda: 42) == ctx.memo("bien", lambda: 0) == 42
