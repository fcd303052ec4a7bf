"""``curso``: the command line of the course (Spanish), for students and instructors."""
from __future__ import annotations

import argparse
import os
import sys

from course import REPO_ROOT, env, show

START_NOTEBOOK = "notebooks/00_inicio.ipynb"


class SpanishParser(argparse.ArgumentParser):
    """argparse with Spanish errors and usage, and no traceback on bad input."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("add_help", False)
        super().__init__(*args, **kwargs)
        self.add_argument("-h", "--ayuda", action="help", help="muestra esta ayuda y termina")

    def format_usage(self) -> str:
        return super().format_usage().replace("usage:", "uso:", 1)

    def format_help(self) -> str:
        text = super().format_help().replace("usage:", "uso:", 1)
        return text.replace("positional arguments:", "argumentos:").replace(
            "options:", "opciones:")

    def error(self, message: str):
        translations = {
            "invalid choice": "opción no válida",
            "choose from": "elige entre",
            "the following arguments are required": "faltan los argumentos",
            "unrecognized arguments": "argumentos no reconocidos",
            "expected one argument": "se esperaba un valor",
            "invalid int value": "número entero no válido",
            "argument ": "argumento ",
        }
        for english, spanish in translations.items():
            message = message.replace(english, spanish)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n"
                     f"Usa «{self.prog.split()[0]} --ayuda» para ver las órdenes.\n")


def build_parser() -> SpanishParser:
    parser = SpanishParser(prog="curso", description="Tema 15: despliegues de microservicios "
                           "FastAPI. Órdenes para preparar la máquina y trabajar.")
    sub = parser.add_subparsers(dest="orden", metavar="ORDEN", parser_class=SpanishParser)
    sub.required = True
    sub.add_parser("doctor", help="qué puede ejecutar esta máquina y qué imágenes hay")
    img = sub.add_parser("imagenes", help="descarga (o construye en local) las imágenes del curso")
    img.add_argument("claves", nargs="*", metavar="IMAGEN",
                     help="imágenes a preparar (por defecto, todas): " + ", ".join(_catalog()))
    img.add_argument("--offline", action="store_true",
                     help="no intentes descargar: construye los sustitutos locales")
    img.add_argument("--reconstruir", action="store_true",
                     help="vuelve a construir los sustitutos aunque ya existan")
    lab = sub.add_parser("lab", help="abre JupyterLab en el cuaderno de inicio")
    lab.add_argument("--sin-navegador", action="store_true", help="no abras el navegador")
    lab.add_argument("--puerto", type=int, default=8888, help="puerto (por defecto 8888)")
    grade = sub.add_parser("corregir", help="corrige un laboratorio (cuaderno o carpeta)")
    grade.add_argument("entrega", help="cuaderno .ipynb (se ejecuta) o carpeta (se corrige tal cual)")
    grade.add_argument("--lab", help="laboratorio (labNN); por defecto se deduce del nombre")
    grade.add_argument("--json", metavar="FICHERO", help="guarda el resultado en JSON")
    grade.add_argument("--junit", metavar="FICHERO", help="guarda el resultado en JUnit XML")
    grade.add_argument("--markdown", metavar="FICHERO", help="guarda el informe en Markdown")
    grade.add_argument("--html", metavar="FICHERO", help="guarda el informe como página web")
    grade.add_argument("--classroom", metavar="FICHERO",
                       help="añade el resultado para GitHub Classroom (result=…) a FICHERO, "
                            "p. ej. $GITHUB_OUTPUT")
    grade.add_argument("--timeout-celda", type=int, default=600, metavar="S",
                       help="segundos máximos por celda (600)")
    grade.add_argument("--timeout-total", type=int, default=1800, metavar="S",
                       help="segundos máximos para todo el laboratorio (1800)")
    grade.add_argument("--solo", metavar="ID[,ID…]",
                       help="solo esas comprobaciones, en ese orden (p. ej. volumen.down_v)")
    grade.add_argument("--conservar", action="store_true",
                       help="no borres la carpeta de trabajo (para depurar)")
    grade.add_argument("--clase", action="store_true",
                       help="ENTREGA es una carpeta con una entrega por estudiante (cuaderno o "
                            "carpeta): corrige todas, una tras otra")
    grade.add_argument("--paralelo", type=int, default=1, metavar="N",
                       help="con --clase: corrige N entregas a la vez (por defecto 1)")
    grade.add_argument("--reanudar", action="store_true",
                       help="con --clase: no vuelve a corregir las entregas que ya tienen informe "
                            "de la misma entrega con el mismo corrector")
    grade.add_argument("--aislado", action="store_true",
                       help="corrige cada entrega dentro de su propio contenedor con su propio "
                            "Docker (copias de las imágenes del curso), con límites de CPU, "
                            "memoria, procesos, /tmp, disco (10 GB) y tiempo, sin red salvo "
                            "loopback (pip instala desde un índice local con los paquetes del "
                            "curso). Evita que una entrega borre contenedores o procesos del "
                            "anfitrión por medios ordinarios; NO es una frontera de seguridad "
                            "frente a un atacante decidido (el contenedor tiene casi todas las "
                            "capacidades): para código hostil usa una máquina virtual desechable")
    grade.add_argument("--salida", metavar="CARPETA",
                       help="con --clase: dónde dejar notas.csv, resumen.md, notas.png y un "
                            "informe por estudiante (por defecto, <ENTREGA>-informes)")
    cluster = sub.add_parser("cluster", help="el clúster Kubernetes del curso (kind o plano de "
                             "control local)")
    cluster.add_argument("accion", choices=("crear", "estado", "borrar"), metavar="ACCIÓN",
                         help="crear, estado o borrar")
    clean = sub.add_parser("limpiar", help="borra lo que crearon cuadernos y laboratorios")
    clean.add_argument("--run", metavar="ID", help="solo esa ejecución (por defecto, todas)")
    return parser


def _catalog() -> list[str]:
    from course.images import CATALOG

    return list(CATALOG)


def doctor(_args) -> int:
    env.show_status()
    if not env.has("docker"):
        show.warn("Sin motor Docker: los cuadernos funcionan en modo estático (generar, "
                  "validar) y omiten las celdas que necesitan contenedores, con el motivo.")
        return 0
    from course import images

    rows = []
    for key, img in images.CATALOG.items():
        state = images.status(key)
        note = {"oficial": "imagen oficial", "sustituto": "sustituto local (paquetes de Debian)",
                "sustituto desactualizado": "sustituto con receta antigua: `curso imagenes` "
                                            "lo reconstruye",
                "ausente": "falta: `curso imagenes`" if img.standin or env.has("registro")
                else "falta y no tiene sustituto local"}[state]
        rows.append((key, img.reference, note))
    show.table("Imágenes del curso", ["Clave", "Referencia", "Estado"], rows)
    return 0


def imagenes(args) -> int:
    from course import docker as cdocker
    from course import images

    cdocker.client()  # fail early, in Spanish, if there is no engine
    unknown = [k for k in args.claves if k not in images.CATALOG]
    if unknown:
        show.warn(f"Imagen desconocida: {', '.join(unknown)}. Opciones: {', '.join(images.CATALOG)}.")
        return 2
    results = images.ensure_all(offline=args.offline, rebuild=args.reconstruir,
                                keys=args.claves or None)
    show.table("Imágenes del curso", ["Clave", "Resultado"], results.items())
    failed = [k for k, r in results.items() if r.startswith("no disponible")
              and (args.claves or images.CATALOG[k].standin)]
    return 1 if failed else 0


def lab(args) -> int:
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={REPO_ROOT}",
           f"--ServerApp.port={args.puerto}", START_NOTEBOOK]
    if args.sin_navegador:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
        cmd.append("--allow-root")
    show.info(f"Abriendo JupyterLab en {START_NOTEBOOK} (Ctrl+C para salir)…")
    os.chdir(REPO_ROOT)
    os.execv(sys.executable, cmd)  # replace this process: signals go straight to Jupyter
    return 0  # not reached


def corregir(args) -> int:
    from pathlib import Path

    from rich.markdown import Markdown

    from grader.grade import GradingError, grade

    if args.clase:
        return corregir_clase(args)
    if args.salida or args.paralelo != 1 or args.reanudar:
        raise GradingError("--salida, --paralelo y --reanudar solo tienen sentido con --clase.")
    with show.console.status(f"Corrigiendo {args.entrega}…") as status:
        only = [i.strip() for i in args.solo.split(",") if i.strip()] if args.solo else None
        if args.aislado:
            from grader import isolated

            if args.conservar:
                raise GradingError("--conservar no funciona con --aislado: la carpeta de "
                                   "trabajo vive dentro del contenedor aislado y se borra con él.")
            result = isolated.grade(Path(args.entrega), args.lab, cell_timeout=args.timeout_celda,
                                    total_timeout=args.timeout_total,
                                    notify=lambda message: status.update(message), only=only)
        else:
            result = grade(Path(args.entrega), args.lab, cell_timeout=args.timeout_celda,
                           total_timeout=args.timeout_total, keep_workdir=args.conservar,
                           notify=lambda message: status.update(message), only=only)
    show.console.print(Markdown(result.to_markdown()))
    for option, text in ((args.json, result.to_json), (args.junit, result.to_junit),
                         (args.markdown, result.to_markdown), (args.html, result.to_html)):
        if option:
            Path(option).write_text(text(), encoding="utf-8")
    if args.classroom:  # appended: $GITHUB_OUTPUT holds the other steps' outputs too
        with Path(args.classroom).open("a", encoding="utf-8") as out:
            out.write(result.to_classroom_output())
    return 0 if result.success else 1


def corregir_clase(args) -> int:
    from pathlib import Path

    from grader import batch
    from grader.grade import GradingError

    if args.json or args.junit or args.markdown or args.html or args.classroom or args.conservar:
        raise GradingError("Con --clase cada informe va a la carpeta de --salida: no uses "
                           "--json, --junit, --markdown, --html, --classroom ni --conservar.")
    folder = Path(args.entrega)
    out_dir = Path(args.salida) if args.salida else folder.with_name(f"{folder.name}-informes")
    with show.console.status(f"Corrigiendo la clase de {folder}…") as status:
        entries = batch.grade_class(
            folder, args.lab, out_dir, cell_timeout=args.timeout_celda,
            total_timeout=args.timeout_total, jobs=args.paralelo, resume=args.reanudar,
            isolated=args.aislado, notify=lambda i, n, message: status.update(f"[{i}/{n}] {message}"))
    show.table(f"Corrección de la clase ({len(entries)} entregas)",
               ["Estudiante", "Puntuación", "Puntos", "Ejecución", "Motivo"],
               [(e.student, f"{e.result.score:.0%}" if e.result else "—",
                 f"{e.result.passed_points}/{e.result.verifiable_points}" if e.result else "—",
                 e.result.execution.status if e.result else "—",
                 e.row()["motivo"][:80]) for e in entries])
    reused = sum(e.reused for e in entries)
    show.ok(f"Informes en {out_dir}: {batch.GRADEBOOK}, {batch.SUMMARY}, {batch.HISTOGRAM} y "
            "uno por estudiante (Markdown, HTML y JSON)."
            + (f" {reused} entregas ya estaban corregidas y no se repitieron." if reused else ""))
    # The batch did its job even if students failed; only a submission it could not
    # grade at all makes the exit code non-zero.
    return 1 if any(e.result is None for e in entries) else 0


def cluster(args) -> int:
    from course import k8s

    if args.accion == "crear":
        found = k8s.find()
        if found:
            show.ok(f"Ya hay un clúster: {found.summary()} (kubeconfig {found.kubeconfig}).")
            return 0
        created = k8s.create()
        show.ok(f"Clúster listo: {created.summary()}. kubeconfig: {created.kubeconfig}")
        show.info(f"Desde una terminal: export KUBECONFIG={created.kubeconfig}")
        return 0
    if args.accion == "borrar":
        k8s.delete()
        return 0
    found = k8s.find()
    _, missing = k8s.local_binaries()
    rows = [("Clúster en uso", found.summary() if found else f"ninguno: {k8s.why_none()}"),
            ("kubeconfig", str(found.kubeconfig) if found else "—"),
            ("Pods con contenedores", ("sí" if found.pods else "no (nodos simulados)")
             if found else "—"),
            ("kind", k8s.tool("kind") or "no instalado"),
            ("Plano de control local", f"binarios en {k8s.BIN_DIR}" if not missing
             else f"faltan {', '.join(missing)}"),
            ("kubectl", k8s.tool("kubectl") or "no instalado"),
            ("helm", k8s.tool("helm") or "no instalado")]
    if found:
        namespaces = found.namespaces()
        rows.append(("Espacios de nombres del curso", ", ".join(namespaces) or "ninguno"))
    show.table("Clúster Kubernetes del curso", ["Qué", "Estado"], rows)
    return 0 if found else 1


def limpiar(args) -> int:
    from course import cleanup

    cleanup.run(args.run or "*", quiet=False)
    return 0


COMMANDS = {"doctor": doctor, "imagenes": imagenes, "lab": lab, "corregir": corregir,
            "cluster": cluster, "limpiar": limpiar}


def main(argv: list[str] | None = None) -> int:
    from course.docker import EngineUnavailable
    from course.imagebuild import BuildFailed
    from course.images import ImageUnavailable
    from course.k8s import ClusterUnavailable, CommandFailed
    from grader.errors import GradingError

    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.orden](args)
    except (EngineUnavailable, ImageUnavailable, BuildFailed, ClusterUnavailable,
            CommandFailed) as exc:
        show.console.print(f"[red]✘[/red] {exc}")
        return 1
    except GradingError as exc:
        show.console.print(f"[red]✘[/red] {exc}")
        return 2
    except RuntimeError as exc:
        from grader.sandbox import SandboxUnavailable

        if not isinstance(exc, SandboxUnavailable):
            raise
        show.console.print(f"[red]✘[/red] No se corrige: sin aislamiento disponible. {exc}")
        return 1
    except KeyboardInterrupt:
        show.warn("Interrumpido.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
