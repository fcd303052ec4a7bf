"""One grading result, rendered as JSON, Spanish Markdown (terminal) and JUnit XML."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from grader.checks import BLOCKED, ERROR, FAILED, PASSED, SKIPPED, STATUS_ES, CheckResult
from grader.runner import ExecutionReport

ICONS = {PASSED: "✅", FAILED: "❌", SKIPPED: "⏭️", ERROR: "⚠️", BLOCKED: "⛔"}


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
        return sum(c.points for c in self.checks if c.status != SKIPPED)

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
        verifiable = [c for c in self.checks if c.status != SKIPPED]
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
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

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

    def to_junit(self) -> str:
        suite = ET.Element("testsuite", name=self.lab, tests=str(len(self.checks) + 1),
                           failures=str(sum(c.status in (FAILED, BLOCKED) for c in self.checks)),
                           errors=str(sum(c.status == ERROR for c in self.checks)
                                      + (0 if self.execution.ok else 1)),
                           skipped=str(sum(c.status == SKIPPED for c in self.checks)),
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
                   SKIPPED: "skipped"}.get(c.status)
            if tag:
                ET.SubElement(case, tag, message=c.message)
        return ET.tostring(suite, encoding="unicode", xml_declaration=True)
