"""A grading result rendered for people and for tools: HTML feedback, GitHub Classroom's
autograding format, and the JSON a class batch resumes from (pure, fast)."""
import base64
import json

from grader.checks import FAILED, PASSED, SKIPPED, CheckResult
from grader.report import LabResult
from grader.runner import ExecutionReport, Status


def sample() -> LabResult:
    checks = [CheckResult("a.uno", PASSED, 2, "Primera", seconds=0.5),
              CheckResult("a.dos", FAILED, 1, "Segunda", "Falta <script>alert(1)</script> & más"),
              CheckResult("a.tres", SKIPPED, 3, "Tercera", "sin clúster")]
    return LabResult("lab99", "/clase/ana.ipynb", ExecutionReport(Status.OK, "bien", None, 1.0),
                     checks, "t15-abc", 4.2)


def test_html_feedback_escapes_what_the_submission_wrote():
    page = sample().to_html()
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert '<html lang="es">' in page and "Corrección de lab99" in page and "<table>" in page


def test_classroom_result_scores_like_the_grader():
    data = sample().to_classroom()
    assert data["version"] == 1 and data["status"] == "fail"
    assert data["max_score"] == 3  # verifiable points: the skipped check counts for nothing
    tests = data["tests"]
    assert [t["test_code"] for t in tests] == ["a.uno", "a.uno", "a.dos"]
    # GitHub's reporter: passed tests / tests × max_score, which must equal our score × max.
    reporter = sum(t["status"] == "pass" for t in tests) / len(tests) * data["max_score"]
    assert reporter == sample().score * data["max_score"] == 2
    line = sample().to_classroom_output()
    assert line.startswith("result=") and line.endswith("\n")
    assert json.loads(base64.b64decode(line[len("result="):])) == data


def test_classroom_status_is_error_when_the_notebook_did_not_run():
    result = sample()
    result.execution = ExecutionReport(Status.CELL_ERROR, "NameError", 3, 1.0)
    assert result.to_classroom()["status"] == "error"


def test_json_round_trip_keeps_the_grade():
    original = sample()
    back = LabResult.from_dict(json.loads(original.to_json()))
    assert back.to_dict() == original.to_dict()
    assert back.execution.status is Status.OK and back.score == original.score


def test_manual_review_is_shown_but_never_passed_nor_counted():
    """Prose for the instructor (lab05, Tarea 5): «revisión manual», 0 automatic points, not
    a pass in any format, and a lab whose automatic checks all pass is still a success."""
    from grader.checks import MANUAL

    result = LabResult("lab99", "/clase/ana.ipynb", ExecutionReport(Status.OK, "bien", None, 1.0),
                       [CheckResult("a.uno", PASSED, 2, "Primera"),
                        CheckResult("a.prosa", MANUAL, 0, "Explicación", "Respuesta: «act…»")],
                       "t15-abc", 1.0)
    assert (result.score, result.verifiable_points, result.passed_points) == (1.0, 2, 2)
    assert result.success
    text = result.to_markdown()
    assert "| 📝 | Explicación (`a.prosa`) | 0/0 | revisión manual |" in text
    assert "**a.prosa (revisión manual)**: Respuesta: «act…»" in text
    assert [t["test_code"] for t in result.to_classroom()["tests"]] == ["a.uno", "a.uno"]
    junit = result.to_junit()
    assert 'skipped="1"' in junit and '<skipped message="Respuesta: «act…»"' in junit
    back = LabResult.from_dict(json.loads(result.to_json()))
    assert back.statuses() == {"a.uno": PASSED, "a.prosa": MANUAL}
