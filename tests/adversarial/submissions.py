"""Hostile and careless lab 01 submissions, written as an attacker or a hurried student
would. Each is a notebook built here (never stored with outputs); ``write_all`` puts
them in a class folder. Every process a submission starts carries ``marker`` on its
command line, so a test can find what leaked whatever the process did to its
environment. Destructive ones are capped: a bounded fork loop, an allocation the
allocator refuses at once, ``SIGKILL`` instead of filling the machine's memory."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import v3
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}
SLEEPER = "import time; time.sleep(600)"   # what leaked children run


@dataclass(frozen=True)
class Submission:
    name: str                      # file name inside the class folder
    what: str                      # the attack, in Spanish (test ids, failure messages)
    statuses: frozenset[str]       # acceptable execution statuses (grader.runner.Status)
    build: Callable[["Setting"], object]   # returns the file's bytes or a notebook node


@dataclass(frozen=True)
class Setting:
    marker: str                    # unique per test session: on every child's command line
    outside: Path                  # a folder outside the work dir (the test owns it)
    foreign_container: str         # a container of another run (may be "")


def _nb(*sources: str, markdown: str = "", parameters: bool = True):
    cells = []
    if parameters:
        cell = new_code_cell("workdir = None\nrun_id = None")
        cell.metadata["tags"] = ["parameters"]
        cells.append(cell)
    if markdown:
        cells.append(new_markdown_cell(markdown))
    cells += [new_code_cell(s) for s in sources]
    return new_notebook(cells=cells, metadata={"kernelspec": KERNEL})


def _spawn(marker: str, **popen: str) -> str:
    extra = "".join(f", {k}={v}" for k, v in popen.items())
    return ("import subprocess, sys\n"
            f"subprocess.Popen([sys.executable, '-c', {SLEEPER!r}, {marker!r}], "
            "stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL"
            f"{extra})\n")


def infinite_loop(s: Setting):
    return _nb("# El estudiante olvidó la condición de salida\nwhile True:\n    pass")


def fork_bomb(s: Setting):
    # Acotada: 24 hijos, y cada uno de los 8 primeros un nieto; todos salen de su grupo
    # de procesos (setsid) y se convierten en un intérprete dormido con la marca.
    return _nb("import os, sys\n"
               "for i in range(24):\n"
               "    if os.fork() == 0:\n"
               "        os.setsid()\n"
               "        if i < 8 and os.fork() == 0:\n"
               "            os.setsid()\n"
               f"        os.execv(sys.executable, [sys.executable, '-c', {SLEEPER!r}, {s.marker!r}])\n"
               "print('hijos lanzados')")


def memory_hog(s: Setting):
    # Pedir 4 EiB: el asignador lo rechaza sin tocar la memoria de la máquina.
    return _nb("datos = bytearray(2 ** 62)")


def killed_like_oom(s: Setting):
    # Lo que hace el OOM killer del kernel de Linux: SIGKILL al proceso más grande.
    return _nb("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")


def huge_output(s: Setting):
    return _nb("import sys\nlinea = 'x' * 1023 + '\\n'\n"
               "for _ in range(50):\n    sys.stdout.write(linea * 1024)\n    sys.stdout.flush()")


def exit_zero(s: Setting):
    return _nb("print('me voy')", "import os\nos._exit(0)")


def kill_parent(s: Setting):
    # Mata al proceso que ejecuta el cuaderno (papermill) y deja un proceso dormido.
    return _nb(_spawn(s.marker, start_new_session="True"),
               "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")


def kill_process_group(s: Setting):
    return _nb("import os, signal\nos.killpg(os.getpgid(0), signal.SIGKILL)")


def escaped_process(s: Setting):
    # Un servidor «olvidado» que sale del grupo y borra su entorno (y con él la marca de
    # la ejecución que usa la limpieza).
    return _nb(_spawn(s.marker, start_new_session="True", env="{}"))


def write_outside(s: Setting):
    target = s.outside / "escrito-por-la-entrega.txt"
    return _nb(f"from pathlib import Path\nPath({str(target)!r}).write_text('estuve aquí')")


def edit_grader(s: Setting):
    return _nb("import grader.labs.lab01 as m\nfrom pathlib import Path\n"
               "p = Path(m.__file__)\np.write_text(p.read_text().replace('assert ', 'assert True or '))")


def plant_startup_hook(s: Setting):
    # Un .pth en site-packages se ejecuta en cada intérprete que arranque después: las
    # correcciones siguientes importarían código de la entrega.
    return _nb("import site, pathlib\n"
               "sp = pathlib.Path(site.getsitepackages()[0])\n"
               "(sp / 'zz_tema15_entrega.pth').write_text('import os\\n')")


def forge_result(s: Setting):
    # Falsifica el resultado que lee el corrector y después falla.
    return _nb("import json, pathlib\n"
               "pathlib.Path(workdir, '.resultado-ejecucion.json').write_text(json.dumps({'kind': 'ok'}))",
               "1 / 0")


def forge_result_and_kill(s: Setting):
    return _nb("import json, os, signal, pathlib\n"
               "pathlib.Path(workdir, '.resultado-ejecucion.json').write_text(json.dumps({'kind': 'ok'}))\n"
               "os.kill(os.getppid(), signal.SIGKILL)")


def delete_workdir(s: Setting):
    return _nb("import shutil, os\nos.chdir('/')\nshutil.rmtree(workdir)")


def squat_ports(s: Setting):
    # Ocupa 40 puertos libres de loopback desde un proceso que sigue vivo al acabar.
    code = ("import socket, time\ns = []\n"
            "for _ in range(40):\n"
            "    k = socket.socket(); k.bind(('127.0.0.1', 0)); k.listen(); s.append(k)\n"
            "time.sleep(600)")
    return _nb("import subprocess, sys\n"
               f"subprocess.Popen([sys.executable, '-c', {code!r}, {s.marker!r}], "
               "start_new_session=True)")


def call_network(s: Setting):
    # Sin enviar nada: un socket UDP «conectado» solo elige ruta. Si hay ruta fuera de
    # loopback, la entrega podría llamar a la red; lo dice y falla.
    return _nb("import socket\nu = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
               "try:\n    u.connect(('192.0.2.1', 9))\n    origen = u.getsockname()[0]\n"
               "except OSError:\n    origen = None\n"
               "raise ConnectionError(f'ruta hacia fuera de loopback: {origen}')")


def delete_foreign_container(s: Setting):
    return _nb("import docker\n"
               f"for c in docker.from_env().containers.list(all=True, filters={{'name': {s.foreign_container!r}}}):\n"
               "    c.remove(force=True)")


def nbformat3(s: Setting):
    cell = v3.new_code_cell(input="workdir = None\nrun_id = None", metadata={"tags": ["parameters"]})
    other = v3.new_code_cell(input="print('un cuaderno de 2014')")
    return v3.writes_json(v3.new_notebook(worksheets=[v3.new_worksheet(cells=[cell, other])],
                                     metadata={"kernelspec": KERNEL}))


def notebook_20mb(s: Setting):
    nb = _nb("x = 1", markdown="Apuntes. " * 1_200_000)   # ~11 MB of markdown
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                   text="y" * 10_000_000)]
    return nb


def odd_name(s: Setting):
    return _nb("print('hola')")


def broken_json(s: Setting):
    return '{"cells": [ esto no es JSON'


SUBMISSIONS = [
    Submission("lab01_bucle_infinito.ipynb", "bucle infinito", frozenset({"tiempo_agotado"}), infinite_loop),
    Submission("lab01_bomba_fork.ipynb", "bomba fork acotada", frozenset({"ok"}), fork_bomb),
    Submission("lab01_memoria.ipynb", "acapara memoria", frozenset({"error_en_celda"}), memory_hog),
    Submission("lab01_oom.ipynb", "kernel matado como por el OOM killer",
               frozenset({"kernel_muerto"}), killed_like_oom),
    Submission("lab01_salida_50mb.ipynb", "50 MB de salida", frozenset({"ok"}), huge_output),
    Submission("lab01_os_exit.ipynb", "os._exit(0)", frozenset({"kernel_muerto"}), exit_zero),
    Submission("lab01_mata_al_padre.ipynb", "mata al proceso de papermill",
               frozenset({"kernel_muerto"}), kill_parent),
    Submission("lab01_mata_el_grupo.ipynb", "mata su grupo de procesos",
               frozenset({"kernel_muerto"}), kill_process_group),
    Submission("lab01_proceso_fugado.ipynb", "proceso que borra su entorno y se va",
               frozenset({"ok"}), escaped_process),
    Submission("lab01_escribe_fuera.ipynb", "escribe fuera de su carpeta", frozenset({"ok"}), write_outside),
    Submission("lab01_edita_corrector.ipynb", "edita el corrector", frozenset({"manipulacion"}), edit_grader),
    Submission("lab01_pth.ipynb", "planta un .pth en site-packages",
               frozenset({"manipulacion"}), plant_startup_hook),
    Submission("lab01_falsifica.ipynb", "falsifica el resultado y falla",
               frozenset({"error_en_celda"}), forge_result),
    Submission("lab01_falsifica_y_mata.ipynb", "falsifica el resultado y mata a papermill",
               frozenset({"kernel_muerto"}), forge_result_and_kill),
    Submission("lab01_borra_su_carpeta.ipynb", "borra su carpeta de trabajo",
               frozenset({"error_en_celda", "kernel_muerto"}), delete_workdir),
    Submission("lab01_okupa_puertos.ipynb", "ocupa puertos", frozenset({"ok"}), squat_ports),
    Submission("lab01_red.ipynb", "llama a la red", frozenset({"error_en_celda"}), call_network),
    Submission("lab01_nbformat3.ipynb", "cuaderno nbformat 3", frozenset({"ok", "sin_parametros"}), nbformat3),
    Submission("lab01_20mb.ipynb", "cuaderno de 20 MB", frozenset({"ok"}), notebook_20mb),
    Submission("lab01 José Ñandú (copia).ipynb", "nombre con espacios y acentos", frozenset({"ok"}), odd_name),
    Submission("lab01 salto\nde línea.ipynb", "nombre con salto de línea", frozenset({"ok"}), odd_name),
    Submission("lab01_roto.ipynb", "JSON roto", frozenset({"cuaderno_invalido"}), broken_json),
]
DOCKER_ONLY = Submission("lab01_borra_ajenos.ipynb", "borra contenedores de otra ejecución",
                         frozenset({"ok"}), delete_foreign_container)


def write(submission: Submission, folder: Path, setting: Setting) -> Path:
    path = folder / submission.name
    built = submission.build(setting)
    if isinstance(built, str):
        path.write_text(built, encoding="utf-8")
    else:
        nbformat.write(built, path)
    return path
