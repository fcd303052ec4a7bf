"""The static part of the exercises inside lessons 01–08.

Each function turns a student's answer into :class:`course.exercises.Condition` lines
(Spanish names and hints). The parts that need an engine or a running Prometheus stay
in the notebooks; these run anywhere, so tests can feed them typical wrong answers.
"""
from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Iterable

import kubernetes_validate
import promql_parser
import semver
import structlog
import yaml
from structlog.testing import capture_logs

from course import dockerfile as cdockerfile
from course.exercises import Condition, condition, skip

# --- 01: repair a Dockerfile -------------------------------------------------------------

DEPENDENCY_FILES = ("requirements", "constraints", "pyproject", "poetry.lock", "uv.lock")


def _steps(text: str) -> list[tuple[str, str]]:
    return [(i["instruction"], i["value"]) for i in cdockerfile.parse(text).structure]


def _installs_before_code(steps: list[tuple[str, str]]) -> bool:
    install = next(n for n, (ins, value) in enumerate(steps) if ins == "RUN" and "pip install" in value)
    copies = [n for n, (ins, value) in enumerate(steps) if ins in ("COPY", "ADD")
              and not value.startswith("--from")
              and not all(src.startswith(DEPENDENCY_FILES) for src in value.split()[:-1]
                          if not src.startswith("--"))]
    return bool(copies) and install < min(copies)


def _exec_form(steps: list[tuple[str, str]]) -> bool:
    value = [v for ins, v in steps if ins == "CMD"][-1]
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:  # shell form: plain text
        return False
    return isinstance(parsed, list) and all(isinstance(part, str) for part in parsed)


def _final_user(steps: list[tuple[str, str]]) -> str | None:
    last_from = max(n for n, (ins, _) in enumerate(steps) if ins == "FROM")
    users = [v for ins, v in steps[last_from:] if ins == "USER"]
    return users[-1].strip() if users else None


def review_dockerfile(text: str) -> list[Condition]:
    """The three classic mistakes of the exercise in 15.1, read from the parsed Dockerfile."""
    try:
        steps = _steps(text)
    except Exception as exc:  # dockerfile-parse rejects some malformed texts
        return [Condition("El Dockerfile se puede leer", False, f"dockerfile-parse falla: {exc}")]
    if not any(ins == "FROM" for ins, _ in steps):
        return [Condition("El Dockerfile empieza con FROM", False, "Falta la imagen base (FROM …).")]
    user = _final_user(steps)
    return [
        condition("Instala las dependencias antes de copiar el código",
                  lambda: _installs_before_code(steps),
                  "Copia primero solo requirements.txt, instala con pip y copia app/ después: así "
                  "un cambio en el código no invalida la capa de pip install."),
        condition("CMD en forma exec (lista JSON)",
                  lambda: _exec_form(steps),
                  'Escribe CMD ["uvicorn", "app.main:app", …]: en forma shell, /bin/sh es el PID 1 '
                  "y uvicorn no recibe SIGTERM."),
        Condition("La imagen final no se ejecuta como root",
                  user is not None and user.split(":")[0] not in ("root", "0"),
                  "Crea un usuario sin privilegios (groupadd/useradd con UID 1001) y termina con "
                  "USER 1001:1001 (en número, para que Kubernetes pueda comprobar runAsNonRoot)."),
    ]


# --- 02: which tags a release moves ------------------------------------------------------

def expected_release_tags(version: str, published: Iterable[str]) -> list[str]:
    """Reference answer: floating tags move only if no published stable version is higher."""
    v = semver.Version.parse(version)
    if v.prerelease:
        return [str(v)]
    stable = [p for p in map(semver.Version.parse, published) if not p.prerelease]
    tags = [str(v)]
    if all(v > p for p in stable if (p.major, p.minor) == (v.major, v.minor)):
        tags.append(f"{v.major}.{v.minor}")
    if all(v > p for p in stable if p.major == v.major):
        tags.append(str(v.major))
    if all(v > p for p in stable):
        tags.append("latest")
    return tags


RELEASE_CASES = [
    ("1.4.3", ["1.3.5", "1.4.2"], "Un parche de la rama más reciente mueve 1.4, 1 y latest."),
    ("1.3.6", ["1.3.5", "1.4.2"],
     "Un parche de una rama antigua solo mueve 1.3: 1 y latest ya apuntan a 1.4.2, que es mayor."),
    ("1.4.4", ["1.4.2", "2.0.0"], "Con 2.0.0 publicada, un parche de la 1.4 no puede mover latest."),
    ("2.0.0", ["1.4.2"], "Una versión mayor nueva crea 2.0 y 2, y mueve latest."),
    ("1.10.0", ["1.2.0", "1.9.3"],
     "Compara con semver.Version, no como texto: como cadena, «1.10.0» < «1.9.3»."),
    ("2.1.0-rc.1", ["2.0.0"], "Una pre-release solo recibe su propia etiqueta."),
    ("2.1.0", ["2.0.0", "2.1.0-rc.1"],
     "Las pre-releases publicadas no cuentan: 2.1.0 es la estable más alta y mueve 2.1, 2 y latest."),
]


def review_release_tags(tags_to_move: Callable[[str, list[str]], Iterable[str]]) -> list[Condition]:
    """One condition per case: the student's function against semver's ordering."""
    def case(version: str, published: list[str], hint: str) -> Condition:
        want = expected_release_tags(version, published)
        try:
            got = list(tags_to_move(version, list(published)))
        except Exception as exc:  # the student's code may raise anything
            return Condition(f"{version} con {published} publicadas", False,
                             f"{hint} (tu función lanza {type(exc).__name__}: {exc})")
        right = sorted(got) == sorted(want)
        return Condition(f"{version} con {published} publicadas → {', '.join(want)}", right,
                         f"{hint} Tu función da: {', '.join(map(str, got)) or '(nada)'}.")
    return [case(*c) for c in RELEASE_CASES]


# --- 03: depends_on and a healthcheck ----------------------------------------------------

def review_depends_on(resolved: dict, service: str = "app", dependency: str = "lenta") -> list[Condition]:
    """Read the resolved model of ``docker compose config --format json``."""
    services = resolved.get("services", {})
    depends = (services.get(service, {}).get("depends_on") or {})
    wanted = depends.get(dependency, {}) if isinstance(depends, dict) else {}
    health = services.get(dependency, {}).get("healthcheck") or {}
    return [
        Condition(f"«{service}» espera a que «{dependency}» esté sana (service_healthy)",
                  wanted.get("condition") == "service_healthy",
                  f"Ahora la condición es «{wanted.get('condition', 'ninguna')}»: con service_started "
                  f"Compose arranca {service} en cuanto existe el contenedor de {dependency}, "
                  "aunque aún no esté lista."),
        Condition(f"«{dependency}» define un healthcheck",
                  bool(health.get("test")) and not health.get("disable"),
                  "service_healthy necesita un healthcheck en la dependencia; sin él, "
                  "docker compose up falla."),
    ]


def review_startup_order(app_started: float | None, dependency_healthy: float | None,
                         service: str = "app", dependency: str = "lenta") -> Condition:
    """What the engine's events show: did the service start after its dependency was healthy?"""
    name = f"Observado: «{service}» arrancó después de que «{dependency}» estuviera sana"
    if app_started is None or dependency_healthy is None:
        return Condition(name, False, f"En los eventos del motor falta el arranque de {service} "
                                      f"o el «healthy» de {dependency}.")
    gap = app_started - dependency_healthy
    return Condition(name, gap >= 0,
                     f"{service} arrancó {-gap:.1f} s ANTES de que {dependency} estuviera sana.")


# --- 07: a structlog processor -----------------------------------------------------------

def review_health_filter(processor) -> list[Condition]:
    """Drop routine health checks (info) but keep failing ones and every other route."""
    def logged(method: str, **fields) -> list[dict]:
        with capture_logs(processors=[processor]) as captured:
            getattr(structlog.get_logger("ejercicio"), method)("peticion", **fields)
        return captured

    def kept_intact(method: str, **fields) -> bool:
        out = logged(method, **fields)
        return len(out) == 1 and all(out[0].get(k) == v for k, v in fields.items())

    drop_hint = ("Para descartar un evento, lanza structlog.DropEvent; devolver None rompe la "
                 "cadena (el siguiente procesador recibe None).")
    return [
        condition("Descarta GET /health/live con nivel info",
                  lambda: logged("info", path="/health/live", status=200) == [], drop_hint),
        condition("Descarta GET /health/ready con nivel info",
                  lambda: logged("info", path="/health/ready", status=200) == [],
                  drop_hint + " Mira el prefijo /health/, no una ruta concreta."),
        condition("Conserva /health/ready cuando se registra como warning",
                  lambda: kept_intact("warning", path="/health/ready", status=503),
                  "Una comprobación de salud que falla es justo lo que quieres ver: usa el "
                  "nivel (el argumento method_name) y descarta solo info."),
        condition("Conserva las demás rutas sin tocar sus campos",
                  lambda: kept_intact("info", path="/items/7", status=200, request_id="r-1"),
                  "Para el resto de eventos devuelve event_dict tal cual."),
        condition("Conserva un evento sin campo path",
                  lambda: kept_intact("info", pedido_id=42),
                  "No todos los eventos tienen path: usa event_dict.get(\"path\", \"\")."),
    ]


# --- 08: a PromQL query for a latency SLO ------------------------------------------------

def _nodes(expr) -> Iterable:
    yield expr
    for attr in ("lhs", "rhs", "expr", "vector_selector"):
        child = getattr(expr, attr, None)
        if child is not None:
            yield from _nodes(child)
    for arg in getattr(expr, "args", None) or []:
        yield from _nodes(arg)


def _unparen(expr):
    while type(expr).__name__ == "ParenExpr":
        expr = expr.expr
    return expr


def _selectors(expr) -> list[tuple[str, dict[str, str]]]:
    found = []
    for node in _nodes(expr):
        if type(node).__name__ == "VectorSelector":
            labels = {m.name: m.value for m in node.matchers.matchers}
            found.append((node.name or labels.get("__name__", ""), labels))
    return found


def _is_total(selectors) -> bool:
    return any(name == f"{HISTOGRAM}_count" or (name == f"{HISTOGRAM}_bucket" and labels.get("le") == "+Inf")
               for name, labels in selectors)


HISTOGRAM = "http_request_duration_seconds"


def review_fast_ratio(query: str, threshold: str = "0.1") -> list[Condition]:
    """Fraction of requests served in ``threshold`` seconds or less, from the histogram."""
    try:
        tree = _unparen(promql_parser.parse(query))
    except Exception as exc:  # the parser raises ValueError-like errors with a message
        return [Condition("Es PromQL válido", False, f"El analizador dice: {exc}")]
    division = type(tree).__name__ == "BinaryExpr" and str(tree.op) == "/"
    lhs = _unparen(tree.lhs) if division else None
    rhs = _unparen(tree.rhs) if division else None
    return [
        Condition("Es PromQL válido", True),
        Condition("Es un cociente: peticiones rápidas / todas", division,
                  "Divide el ritmo de las rápidas entre el ritmo de todas."),
        Condition(f'El numerador usa el cubo le="{threshold}" de {HISTOGRAM}_bucket',
                  division and any(name == f"{HISTOGRAM}_bucket" and labels.get("le") == threshold
                                   for name, labels in _selectors(lhs)),
                  f'Los cubos son acumulativos: le="{threshold}" ya cuenta todas las peticiones '
                  f"de {threshold} s o menos."),
        Condition("El denominador es el total de peticiones",
                  division and _is_total(_selectors(rhs)),
                  f'Usa {HISTOGRAM}_count (o el cubo le="+Inf"), no otro cubo.'),
        Condition("Usa rate(…[ventana]) sobre los contadores",
                  any(type(n).__name__ == "Call" and n.func.name in ("rate", "increase")
                      for n in _nodes(tree)),
                  "Los cubos son contadores: lo que cuenta es su ritmo, rate(x[1m])."),
        Condition("Suma antes de dividir (sum(…) / sum(…))",
                  division and all(type(side).__name__ == "AggregateExpr" and str(side.op) == "sum"
                                   and not side.modifier for side in (lhs, rhs)),
                  "Suma cada lado con sum(…), sin «by», antes de dividir: si no, Prometheus "
                  "divide serie a serie (por instancia, ruta, le…) y no sale un único número."),
    ]


def review_with_promtool(query: str, promtool: str | None, folder: Path) -> Condition:
    """Without a running Prometheus: ``promtool check rules`` parses the query as a rule."""
    name = "promtool check rules acepta la consulta"
    if not promtool:
        return skip(name, "no hay Prometheus ni binario promtool")
    rules = folder / "ejercicio-reglas.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "ejercicio", "rules": [
        {"record": "ejercicio:rapidas:ratio1m", "expr": query}]}]}))
    done = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True,
                          timeout=30)
    return Condition(name, done.returncode == 0, (done.stdout + done.stderr).strip()[-300:])


# --- 04: repair a Deployment -------------------------------------------------------------

K8S_VERSION = "1.35"   # the schemas of the course's kube-apiserver
SEMVER_IMAGE_TAG = re.compile(r":(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$")


def _http_probe(container: dict, kind: str) -> dict:
    return (container.get(kind) or {}).get("httpGet") or {}


def review_deployment(text: str) -> list[Condition]:
    """What schema validation does not see in a Deployment: selector, probes, image, resources."""
    try:
        found = [o for o in yaml.safe_load_all(text) if o]
    except yaml.YAMLError as exc:
        return [Condition("Es YAML válido", False, f"PyYAML dice: {exc}")]
    if len(found) != 1 or not isinstance(found[0], dict) or found[0].get("kind") != "Deployment":
        return [Condition("Es un único objeto Deployment", False,
                          "Deja en el texto un solo objeto, con kind: Deployment.")]
    (dep,) = found
    try:
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)
        schema = Condition(f"Cumple el esquema de Kubernetes {K8S_VERSION} (modo estricto)", True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(step) for step in exc.path)
        schema = Condition(f"Cumple el esquema de Kubernetes {K8S_VERSION} (modo estricto)", False,
                           f"kubernetes-validate: {exc.message} (en /{where}).")
    spec = dep.get("spec") or {}
    template = spec.get("template") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    container = ((template.get("spec") or {}).get("containers") or [{}])[0]
    image = str(container.get("image", ""))
    resources = container.get("resources") or {}
    return [
        schema,
        Condition("selector.matchLabels está contenido en las labels del pod",
                  bool(selector) and selector.items() <= labels.items(),
                  f"Compara el selector {selector} con las labels de la plantilla {labels}: el API "
                  "server rechaza un Deployment cuyo selector no encuentra sus propios pods "
                  "(«selector does not match template labels»)."),
        Condition("La imagen lleva una versión SemVer (nunca latest)",
                  bool(SEMVER_IMAGE_TAG.search(image)),
                  f"La imagen es «{image}». Con latest (o sin etiqueta de imagen) no sabes qué "
                  "versión corre e imagePullPolicy pasa a Always: en kind el pod acaba en "
                  "ErrImagePull. Usa una versión, p. ej. catalogo:1.0.0."),
        Condition("readinessProbe HTTP en /health/ready",
                  _http_probe(container, "readinessProbe").get("path") == "/health/ready",
                  f"La sonda de disponibilidad pide «{_http_probe(container, 'readinessProbe').get('path')}»: "
                  "el servicio respondería 404 y el pod nunca estaría listo. Su ruta es /health/ready."),
        Condition("livenessProbe HTTP en /health/live",
                  _http_probe(container, "livenessProbe").get("path") == "/health/live",
                  "La sonda de vida es /health/live, que no depende de la base de datos: si "
                  "dependiera, una caída de PostgreSQL reiniciaría todos los pods a la vez."),
        Condition("requests y limits de CPU y memoria",
                  all({"cpu", "memory"} <= set(resources.get(k) or {}) for k in ("requests", "limits")),
                  "Sin requests el scheduler no sabe qué reservar (ni el HPA tiene base); sin limits "
                  "un pod puede quedarse con la memoria del nodo."),
    ]


# --- 05: when does the deploy job run? ---------------------------------------------------

# (case, act event, ref pushed or None for a pull request, should the deploy job run?, hint)
DEPLOY_CASES = [
    ("pull request hacia main", "pull_request", None, False,
     "En una pull request no se despliega: su código aún no está revisado ni fusionado, y "
     "los secretos del entorno no deberían llegarle. Exige github.event_name == 'push'."),
    ("push a main", "push", "refs/heads/main", True,
     "Un push a main sí despliega. Ojo: github.ref es la referencia completa (refs/heads/main); "
     "el nombre corto está en github.ref_name."),
    ("push a la rama feature/login", "push", "refs/heads/feature/login", False,
     "Una rama de trabajo no despliega: compara con main, no uses event_name != 'pull_request'."),
    ("push del tag de git v1.3.0", "push", "refs/tags/v1.3.0", True,
     "Un tag de git v… despliega: startsWith(github.ref, 'refs/tags/v')."),
    ("push del tag de git nightly", "push", "refs/tags/nightly", False,
     "Solo los tags de git de versión (v…) despliegan, no cualquier tag."),
    ("push a la rama v2-pruebas", "push", "refs/heads/v2-pruebas", False,
     "Una rama también puede empezar por v: github.ref_name no distingue ramas de tags; "
     "mira github.ref (refs/tags/v…) o github.ref_type == 'tag'."),
]


def deploy_workflow(condition_expr: str) -> str:
    """A two-job workflow whose ``deploy`` job carries the student's ``if:``."""
    return (
        "name: ejercicio\n"
        "on: [push, pull_request]\n"
        "permissions:\n  contents: read\n"
        "jobs:\n"
        "  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo pruebas\n"
        "  deploy:\n    needs: test\n"
        f"    if: {json.dumps(condition_expr, ensure_ascii=False)}\n"
        "    runs-on: ubuntu-latest\n    steps:\n      - run: echo despliegue\n")


def review_deploy_runs(ran: dict[str, bool | None]) -> list[Condition]:
    """One condition per case: ``ran[case]`` says whether act ran the deploy job (None: not run)."""
    conditions = []
    for case, _event, _ref, wanted, hint in DEPLOY_CASES:
        name = f"{case}: {'despliega' if wanted else 'no despliega'}"
        got = ran.get(case)
        if got is None:
            conditions.append(skip(name, "act no ha ejecutado este caso"))
        else:
            conditions.append(Condition(name, got == wanted,
                                        f"{hint} (Con tu condición, deploy {'sí' if got else 'no'} corrió.)"))
    return conditions


def run_deploy_cases(condition_expr: str, run: str, timeout: float = 60) -> list[Condition]:
    """Run the workflow with the real act once per case (no engine needed: the steps run on
    this host) and report, per case, whether the deploy job ran when it should."""
    import shutil

    from course import pipelines  # act, actionlint and the throwaway repository of 15.5

    workflow = deploy_workflow(condition_expr)
    lint = review_actionlint(None)
    if pipelines.tool("actionlint"):
        with tempfile.TemporaryDirectory(prefix=f"{run}-ejercicio-") as tmp:
            path = Path(tmp) / "ci.yml"
            path.write_text(workflow)
            lint = review_actionlint(pipelines.actionlint(path))
    if not pipelines.tool("act"):
        return [lint, *review_deploy_runs({})]
    repo = pipelines.new_repo(run, github=workflow)
    ran: dict[str, bool | None] = {}
    try:
        for case, event, ref, _wanted, _hint in DEPLOY_CASES:
            result = pipelines.run_act(repo, event=event, ref=ref or "refs/heads/main", timeout=timeout)
            if not result.ok:
                return [lint, Condition("act ejecuta el workflow", False,
                                        f"act falla en el caso «{case}»: {result.tail(6)}")]
            ran[case] = bool(result.ran("deploy"))
    finally:
        shutil.rmtree(repo.path, ignore_errors=True)
    return [lint, *review_deploy_runs(ran)]


def review_actionlint(findings: list[str] | None) -> Condition:
    """actionlint's verdict on the workflow (None: actionlint is not installed)."""
    name = "actionlint no encuentra errores en la condición"
    if findings is None:
        return skip(name, "actionlint no está instalado")
    return Condition(name, not findings, "; ".join(findings)[:400])


# --- 05: which image tags a release candidate publishes ---------------------------------

def tags_step_output(workflow_text: str, ref_name: str, sha: str, workdir: Path,
                     step_id: str = "tags") -> list[str]:
    """Run, with bash, the workflow step that computes the image tags, as GitHub would for a
    push of the git tag ``ref_name``; return the tags without the registry (the commit's as
    «sha»)."""
    doc = yaml.safe_load(workflow_text)
    script = next(step["run"] for job in doc["jobs"].values() for step in job.get("steps", [])
                  if step.get("id") == step_id)
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "output"
        env = {"PATH": "/usr/bin:/bin", "GITHUB_SHA": sha, "GITHUB_REF_TYPE": "tag",
               "GITHUB_REF_NAME": ref_name, "REGISTRY": "registro", "IMAGE_NAME": "catalogo",
               "GITHUB_OUTPUT": str(output)}
        subprocess.run(["bash", "-e", "-c", script], cwd=workdir, env=env, check=True,
                       capture_output=True, text=True, timeout=30)
        values = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return ["sha" if t == sha[:7] else t for t in
            (ref.rsplit(":", 1)[1] for ref in values["tags"].split())]


def review_tag_prediction(predicted: Iterable[str], published: Iterable[str]) -> list[Condition]:
    """The student's predicted image tags against those really published («sha»: the commit's)."""
    got = {str(t).strip() for t in predicted}
    want = set(published)
    conditions = [Condition(f"Predices «{tag}»", tag in got,
                            "Cada construcción publica también la etiqueta de imagen del commit (sha "
                            "corto): escríbela como «sha»." if tag == "sha" else
                            f"La versión completa se publica siempre, sin la v del tag de git: {tag}.")
                  for tag in sorted(want)]
    extra = sorted(got - want)
    hints = []
    if any(t.startswith("v") for t in extra):
        hints.append("Las etiquetas de imagen van sin la v del tag de git (${GITHUB_REF_NAME#v}).")
    if any(t != "latest" and not t.startswith("v") for t in extra):
        hints.append("Una pre-release solo recibe su propia etiqueta de imagen: el case del paso "
                     "«Tags from the git ref» no mueve X.Y ni X, que siguen en la última estable.")
    if "latest" in extra:
        hints.append("El pipeline del curso no publica latest.")
    conditions.append(Condition("No predices etiquetas de imagen que no se publican", not extra,
                                f"Sobran {', '.join(extra)}. " + " ".join(hints)))
    return conditions


# --- 06: deploy a version with a git change ----------------------------------------------

def review_prod_release(before: dict[str, tuple[str, int]], after: dict[str, tuple[str, int]],
                        uncommitted: list[str], tag: str = "1.2.0") -> list[Condition]:
    """``before``/``after``: (image, replicas) per environment, rendered from the server's main
    branch (what the agent reads); ``uncommitted``: files changed only in the working copy."""
    image = after.get("prod", ("", 0))[0]
    pending = [f for f in uncommitted if "/overlays/prod/" in f or "/base/" in f]
    if image.endswith(f":v{tag}"):
        hint = (f"La etiqueta de imagen (tag) es «{tag}», sin v: la v es del tag de git "
                f"(v{tag}); la CI de 15.5 publica la imagen sin ella.")
    elif pending:
        hint = ("Lo has cambiado en tu copia de trabajo, pero el agente lee el servidor git: "
                "haz commit y push (repo.commit(mensaje) hace las dos cosas).")
    else:
        hint = (f"Cambia newTag de la imagen catalogo en images: del overlay de prod "
                f"(repo.set_image(\"prod\", \"{tag}\")), no la imagen del Deployment de la base: "
                "el images: del overlay la sustituiría igualmente.")
    changed_dev = before.get("dev") != after.get("dev")
    return [
        Condition(f"En la rama main del servidor, prod despliega catalogo:{tag}",
                  image == f"catalogo:{tag}", f"{hint} Ahora prod despliega «{image}»."),
        Condition("dev no cambia", not changed_dev,
                  f"dev pasa de {before.get('dev')} a {after.get('dev')}: cada entorno tiene su "
                  "overlay, y la base la comparten todos. Deshaz el cambio de dev "
                  "(git checkout de su carpeta) y vuelve a hacer commit."),
        Condition("Las réplicas de prod no cambian",
                  before.get("prod", ("", 0))[1] == after.get("prod", ("", 0))[1],
                  "El ejercicio solo cambia la versión; las réplicas de prod siguen siendo "
                  f"{before.get('prod', ('', 0))[1]}."),
        Condition("No quedan cambios sin commit en tu copia", not uncommitted,
                  "Lo que no está en el servidor no existe para el agente, y el próximo commit "
                  f"lo arrastraría sin querer: {', '.join(uncommitted)}."),
    ]


# --- 06: the Helm variant of an Application ----------------------------------------------

def review_helm_application(app: dict, namespace: str, chart_path: str = "charts/catalogo",
                            values_file: str = "values-prod.yaml") -> list[Condition]:
    """The Argo CD Application of the Helm exercise, read field by field (no cluster needed)."""
    if not isinstance(app, dict) or app.get("kind") != "Application" \
            or not str(app.get("apiVersion", "")).startswith("argoproj.io/"):
        return [Condition("Es un Application de Argo CD", False,
                          "Deja kind: Application y apiVersion: argoproj.io/v1alpha1.")]
    spec = app.get("spec") or {}
    source = spec.get("source") or {}
    helm = source.get("helm") or {}
    policy = spec.get("syncPolicy") or {}
    automated = policy.get("automated") or {}
    destination = spec.get("destination") or {}
    path = str(source.get("path", "")).removeprefix("./").rstrip("/")
    values = [str(v).removeprefix("./") for v in helm.get("valueFiles") or []]
    if "valuesFiles" in helm:
        values_hint = ("valuesFiles (con s) es el campo de Flux (HelmRelease); en un Application de "
                       "Argo CD es source.helm.valueFiles, y el API server rechaza el otro.")
    elif any(v.endswith(values_file) for v in values):
        values_hint = (f"valueFiles es relativo a la ruta del chart: escribe «{values_file}», no la "
                       "ruta desde la raíz del repositorio.")
    else:
        values_hint = f"Añade source.helm.valueFiles: [{values_file}] (el fichero está dentro del chart)."
    return [
        Condition("El chart sale de git: source.path, no source.chart",
                  path == chart_path and "chart" not in source,
                  "source.chart nombra un chart de un repositorio Helm (con un repoURL de Helm); "
                  f"un chart guardado en git se indica con source.path: {chart_path}."),
        Condition(f"Los valores de prod: source.helm.valueFiles con {values_file}",
                  values_file in values, values_hint),
        Condition("Sigue la rama main", source.get("targetRevision") == "main",
                  f"targetRevision es «{source.get('targetRevision')}»; el ejercicio pide la rama main."),
        Condition("Sincronización automática con prune y selfHeal",
                  automated.get("prune") is True and automated.get("selfHeal") is True,
                  "syncPolicy.automated necesita prune: true y selfHeal: true, booleanos (no el "
                  "texto «sí» ni «true» entre comillas)."),
        Condition("Crea su espacio de nombres (CreateNamespace=true)",
                  "CreateNamespace=true" in (policy.get("syncOptions") or []),
                  "Añade syncOptions: [CreateNamespace=true]."),
        Condition(f"Despliega en {namespace}, en el propio clúster",
                  destination.get("namespace") == namespace
                  and destination.get("server") == "https://kubernetes.default.svc",
                  f"destination: server https://kubernetes.default.svc y namespace {namespace}."),
    ]
