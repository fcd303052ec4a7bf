"""One grading result, rendered as JSON, Spanish Markdown (terminal), HTML (the feedback a
student opens in a browser), JUnit XML and GitHub Classroom's autograding format."""
from __future__ import annotations

import base64
import html
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt

from grader.checks import (
    BLOCKED,
    ERROR,
    FAILED,
    MANUAL,
    PASSED,
    SKIPPED,
    STATUS_ES,
    CheckResult,
)
from grader.runner import ExecutionReport, Status

ICONS = {PASSED: "✅", FAILED: "❌", SKIPPED: "⏭️", ERROR: "⚠️", BLOCKED: "⛔", MANUAL: "📝"}
NOT_AUTOMATIC = (SKIPPED, MANUAL)  # neither counts in the automatic score


@dataclass
class LabResult:
    lab: str
    submission: str
    execution: ExecutionReport
    checks: list[CheckResult] = field(default_factory=list)
    run_id: str = ""
    seconds: float = 0.0

    @property
    def total_points(self) -> int:
        return sum(c.points for c in self.checks)

    @property
    def verifiable_points(self) -> int:
        return sum(c.points for c in self.checks if c.status not in NOT_AUTOMATIC)

    @property
    def passed_points(self) -> int:
        return sum(c.earned for c in self.checks)

    @property
    def score(self) -> float:
        return self.passed_points / self.verifiable_points if self.verifiable_points else 0.0

    def statuses(self) -> dict[str, str]:
        """Check id → status."""
        return {c.id: c.status for c in self.checks}

    def messages(self) -> dict[str, str]:
        """Check id → feedback message."""
        return {c.id: c.message for c in self.checks}

    @property
    def success(self) -> bool:
        """Every verifiable check passed and the notebook ran cleanly (exit code 0)."""
        verifiable = [c for c in self.checks if c.status not in NOT_AUTOMATIC]
        return bool(verifiable) and self.execution.ok and all(c.status == PASSED for c in verifiable)

    def to_dict(self) -> dict:
        return {
            "lab": self.lab,
            "entrega": self.submission,
            "puntuacion": round(self.score, 4),
            "puntos": {"obtenidos": self.passed_points, "verificables": self.verifiable_points,
                       "totales": self.total_points,
                       "no_verificables": self.total_points - self.verifiable_points},
            "ejecucion": {"estado": self.execution.status, "mensaje": self.execution.message,
                          "celda": self.execution.cell,
                          "segundos": round(self.execution.seconds, 2)},
            "comprobaciones": [{"id": c.id, "estado": c.status, "puntos": c.points,
                                "descripcion": c.description, "mensaje": c.message,
                                "segundos": round(c.seconds, 2)} for c in self.checks],
            "segundos": round(self.seconds, 2),
            "ejecucion_id": self.run_id,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> LabResult:
        """The inverse of ``to_dict`` (a class batch resumes from its saved reports)."""
        run = data["ejecucion"]
        execution = ExecutionReport(Status(run["estado"]), run["mensaje"], run["celda"],
                                    run["segundos"])
        found = [CheckResult(c["id"], c["estado"], c["puntos"], c["descripcion"], c["mensaje"],
                             c["segundos"]) for c in data["comprobaciones"]]
        return cls(data["lab"], data["entrega"], execution, found, data.get("ejecucion_id", ""),
                   data["segundos"])

    def to_markdown(self) -> str:
        unverifiable = self.total_points - self.verifiable_points
        lines = [f"# Corrección de {self.lab}", "",
                 f"**Entrega**: `{self.submission}`  ",
                 f"**Puntuación**: {self.passed_points}/{self.verifiable_points} puntos "
                 f"verificables ({self.score:.0%})"]
        if unverifiable:
            lines.append(f"  \n**No verificables aquí**: {unverifiable} de {self.total_points} "
                         "puntos (comprobaciones omitidas; ver motivos).")
        state = "✅" if self.execution.ok else "❌"
        lines += ["", f"**Ejecución del cuaderno**: {state} {self.execution.message}", "",
                  "| | Comprobación | Puntos | Estado |", "|---|---|---|---|"]
        for c in self.checks:
            lines.append(f"| {ICONS[c.status]} | {c.description} (`{c.id}`) | "
                         f"{c.earned}/{c.points} | {STATUS_ES[c.status]} |")
        feedback: dict[str, list[str]] = {}  # one message, all the checks that share it
        for c in self.checks:
            if c.status != PASSED and c.message:
                feedback.setdefault(c.message, []).append(f"{c.id} ({STATUS_ES[c.status]})")
        if feedback:
            lines += ["", "## Qué revisar", ""]
            lines += [f"- **{', '.join(ids)}**: {message}" for message, ids in feedback.items()]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        """The Markdown report as a self-contained Spanish web page (no external assets)."""
        body = MarkdownIt("commonmark", {"html": False}).enable("table").render(self.to_markdown())
        title = html.escape(f"Corrección de {self.lab}: {Path(self.submission).name}")
        return (f'<!doctype html>\n<html lang="es"><head><meta charset="utf-8">'
                f"<title>{title}</title><style>{_CSS}</style></head>\n<body>{body}</body></html>\n")

    def to_classroom(self) -> dict:
        """GitHub Classroom's autograding result (what its grading reporter reads from
        ``<RUNNER>_RESULTS``, base64). The reporter scores a runner as passed tests / tests ×
        max_score, ignoring per-test weights; so a check worth n points is n tests, and
        checks that could not be verified here are left out, as in our own score."""
        tests = []
        for c in self.checks:
            if c.status in NOT_AUTOMATIC:
                continue
            for i in range(1, c.points + 1):
                name = c.description + (f" ({i}/{c.points})" if c.points > 1 else "")
                tests.append({"name": name, "status": "pass" if c.status == PASSED else "fail",
                              "score": 1 if c.status == PASSED else 0, "max_score": 1,
                              "message": c.message, "test_code": c.id,
                              "duration": round(c.seconds * 1000)})
        status = "pass" if self.success else ("error" if not self.execution.ok else "fail")
        return {"version": 1, "status": status, "max_score": self.verifiable_points,
                "tests": tests}

    def to_classroom_output(self) -> str:
        """The line a workflow step appends to ``$GITHUB_OUTPUT`` (see the README)."""
        encoded = base64.b64encode(json.dumps(self.to_classroom()).encode()).decode()
        return f"result={encoded}\n"

    def to_junit(self) -> str:
        suite = ET.Element("testsuite", name=self.lab, tests=str(len(self.checks) + 1),
                           failures=str(sum(c.status in (FAILED, BLOCKED) for c in self.checks)),
                           errors=str(sum(c.status == ERROR for c in self.checks)
                                      + (0 if self.execution.ok else 1)),
                           skipped=str(sum(c.status in NOT_AUTOMATIC for c in self.checks)),
                           time=f"{self.seconds:.2f}")
        execution = ET.SubElement(suite, "testcase", classname=self.lab, name="ejecucion",
                                  time=f"{self.execution.seconds:.2f}")
        if not self.execution.ok:
            ET.SubElement(execution, "error", message=self.execution.message,
                          type=self.execution.status)
        for c in self.checks:
            case = ET.SubElement(suite, "testcase", classname=self.lab, name=c.id,
                                 time=f"{c.seconds:.2f}")
            tag = {FAILED: "failure", BLOCKED: "failure", ERROR: "error",
                   SKIPPED: "skipped", MANUAL: "skipped"}.get(c.status)
            if tag:
                ET.SubElement(case, tag, message=c.message)
        return ET.tostring(suite, encoding="unicode", xml_declaration=True)


_CSS = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
        "line-height:1.5}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:.3rem .6rem;text-align:left}code{background:#f3f3f3;padding:0 .2rem}")
