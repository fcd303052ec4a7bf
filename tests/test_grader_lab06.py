"""Lab 06 end to end: the solution scores 100 % against a real API server, the untouched
lab fails cleanly, each typical mistake is caught by its own check with a Spanish
message, a different valid solution scores 100 %, and without a cluster the cluster
checks are skipped, never passed.

Directory submissions are built here the way a student would: a real git repository with
its history (overlays, a release in dev, a promotion, a broken commit and its revert)."""
import re
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from course import REPO_ROOT, envrepo
from course.gitserver import git
from grader.grade import grade
from tests.conftest import assert_full_marks

SOLUTION = REPO_ROOT / "solutions" / "lab06_gitops.ipynb"
LAB = REPO_ROOT / "labs" / "lab06_gitops.ipynb"
CLUSTER_CHECKS = ("aplicacion.valida", "cluster.converge", "cluster.deriva", "cluster.poda",
                  "cluster.commit_roto")


def solution_parts() -> dict[str, str]:
    texts = {}
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        for name, body in re.findall(r"^([A-Z_]+) = '''\\\n(.*?)'''", cell.source, re.S | re.M):
            texts[name] = body
        if cell.source.startswith("%%writefile"):
            body = cell.source.split("\n", 1)[1].splitlines()
            texts["MODULE"] = "\n".join(line for line in body if "### " not in line) + "\n"
    return texts


PARTS = solution_parts()
BAD_SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "roto"},
               "spec": {"selector": {"app": "roto"}, "ports": [{"port": "ochenta"}]}}


def edit(text: str, old: str, new: str) -> str:
    assert old in text, f"la solución ya no contiene {old!r}"
    return text.replace(old, new, 1)


def build(tmp_path: Path, *, dev: str = PARTS["DEV"], prod: str = PARTS["PROD"],
          app_template: str = PARTS["APP_TEMPLATE"], module: str = PARTS["MODULE"],
          promotion: str = "merge", bad: dict | None = BAD_SERVICE, revert: bool = True,
          release_dev: bool = True) -> Path:
    """A directory submission made the way the lab asks (or with one step changed)."""
    folder = tmp_path / "entrega-lab06"
    bare = tmp_path / "remoto.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    repo = envrepo.EnvRepo(folder / "entornos", str(bare))
    shutil.copytree(envrepo.BASE, repo.path / envrepo.APP_DIR / "base")
    repo.commit("Base del catálogo (15.4)")
    repo.write(f"{repo.overlay('dev')}/kustomization.yaml", dev)
    repo.write(f"{repo.overlay('prod')}/kustomization.yaml", prod)
    repo.commit("dev y prod con catalogo 1.0.0")
    if release_dev:
        repo.set_image("dev", "1.1.0")
        repo.commit("dev: catalogo 1.1.0")
    if promotion == "merge":
        git("checkout", "--quiet", "-b", "promocion/1.1.0", cwd=repo.path)
        repo.set_image("prod", "1.1.0")
        repo.commit("prod: catalogo 1.1.0", push=False)
        repo.promote("promocion/1.1.0", "Promoción de catalogo 1.1.0 a prod")
    elif promotion == "merge_touching_dev":
        git("checkout", "--quiet", "-b", "promocion/1.1.0", cwd=repo.path)
        repo.set_image("prod", "1.1.0")
        repo.set_replicas("dev", 2)
        repo.commit("prod: catalogo 1.1.0 (y de paso dev)", push=False)
        repo.promote("promocion/1.1.0", "Promoción de catalogo 1.1.0 a prod")
    else:  # a direct commit on main
        repo.set_image("prod", "1.1.0")
        repo.commit("prod: catalogo 1.1.0")
    if bad is not None:
        repo.write(f"{repo.overlay('dev')}/roto.yaml", yaml.safe_dump(bad))
        repo.edit_yaml(f"{repo.overlay('dev')}/kustomization.yaml",
                       lambda data: data["resources"].append("roto.yaml"))
        broken = repo.commit("dev: un commit roto")
        if revert:
            repo.revert(broken)
        else:  # fixed by hand instead of reverting
            repo.edit_yaml(f"{repo.overlay('dev')}/kustomization.yaml",
                           lambda data: data["resources"].remove("roto.yaml"))
            repo.remove(f"{repo.overlay('dev')}/roto.yaml")
            repo.commit("dev: quito el Service roto")
    apps = folder / "aplicaciones"
    apps.mkdir()
    for environment in ("dev", "prod"):
        (apps / f"catalogo-{environment}.yaml").write_text(
            app_template.format(environment=environment, repo_url="git://127.0.0.1:9418/entornos.git"))
    (folder / "reconciliador.py").write_text(module)
    return folder


def statuses(result) -> dict[str, str]:
    return {c.id: c.status for c in result.checks}


def message(result, check_id: str) -> str:
    return next(c.message for c in result.checks if c.id == check_id)


def test_solution_parts_are_found():
    assert {"DEV", "PROD", "APP_TEMPLATE", "MODULE"} <= set(PARTS)
    assert "def drifted" in PARTS["MODULE"] and "SOLUTION" not in PARTS["MODULE"]


def test_solution_scores_full_marks(gitops_cluster):
    assert_full_marks(grade(SOLUTION, "lab06"), "lab06", min_checks=12)


def test_untouched_lab_fails_cleanly(gitops_cluster):
    result = grade(LAB, "lab06")
    assert result.execution.status == "error_en_celda"
    assert result.score < 0.5
    assert not any(c.status == "error" for c in result.checks), result.to_markdown()


def test_a_different_valid_solution_scores_full_marks(gitops_cluster, tmp_path):
    """Replicas by a patch instead of `replicas:`, targetRevision HEAD, a drift test by
    flattening both objects, a prune by set difference: all valid."""
    prod = edit(PARTS["PROD"], "replicas:\n  - name: catalogo\n    count: 3\n",
                "patches:\n  - target:\n      kind: Deployment\n      name: catalogo\n"
                "    patch: |-\n      - op: replace\n        path: /spec/replicas\n        value: 3\n")
    template = edit(PARTS["APP_TEMPLATE"], "targetRevision: main", "targetRevision: HEAD")
    module = '''
LABEL = "tema15.gitops/app"


def flatten(value, prefix=""):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}/{k}"))
        return out or {prefix: {}}
    if isinstance(value, list):
        out = {f"{prefix}#len": len(value)}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}/{i}"))
        return out
    return {prefix: value}


def drifted(desired, live):
    have = flatten(live)
    wanted = flatten({k: v for k, v in desired.items() if k != "status"})
    return any(have.get(path) != value for path, value in wanted.items() if value != {})


def ident(o):
    return (o["apiVersion"].split("/")[0] if "/" in o["apiVersion"] else "", o["kind"], o["metadata"]["name"])


def to_prune(desired, live, app):
    keep = set(map(ident, desired))
    ours = [o for o in live if o["metadata"].get("labels", {}).get(LABEL) == app]
    return [o for o in ours if ident(o) not in keep]
'''
    result = grade(build(tmp_path, prod=prod, app_template=template, module=module), "lab06")
    assert result.execution.status == "no_ejecutado"
    assert result.score == 1.0, result.to_markdown()


# (name, build changes, the checks that must fail, a word of the first one's message)
STATIC_MISTAKES = [
    ("overlay_con_namespace", {"dev": "namespace: catalogo-dev\n" + PARTS["DEV"]},
     {"repo.estructura"}, "namespace"),
    ("dev_sin_debug", {"dev": edit(PARTS["DEV"], "      - LOG_LEVEL=DEBUG\n", "")},
     {"repo.entornos"}, "LOG_LEVEL"),
    ("promocion_sin_merge", {"promotion": "direct"}, {"git.promocion"}, "merge"),
    ("merge_que_toca_dev", {"promotion": "merge_touching_dev"},
     {"git.promocion", "repo.entornos"}, "cambia también"),
    ("prod_antes_que_dev", {"release_dev": False}, {"git.promocion", "repo.entornos"}, "antes de que dev"),
    ("arreglo_sin_revert", {"revert": False}, {"git.revert"}, "git revert"),
    ("valuesFiles", {"app_template": edit(PARTS["APP_TEMPLATE"], "    targetRevision: main\n",
                                          "    targetRevision: main\n    helm:\n      valuesFiles: [values.yaml]\n")},
     {"aplicacion.valida", *CLUSTER_CHECKS}, "valuesFiles"),
    ("sin_create_namespace", {"app_template": edit(PARTS["APP_TEMPLATE"],
                                                   "    syncOptions:\n      - CreateNamespace=true\n", "")},
     {"aplicacion.politica"}, "CreateNamespace"),
    ("otro_proyecto", {"app_template": edit(PARTS["APP_TEMPLATE"], "  project: default\n",
                                            "  project: catalogo\n")},
     {"aplicacion.politica"}, "proyecto default"),
    ("deriva_solo_replicas", {"module": edit(PARTS["MODULE"], "    def differs(want, have) -> bool:",
                                             "    return desired.get('spec', {}).get('replicas') != live.get('spec', {}).get('replicas')\n"
                                             "    def differs(want, have) -> bool:")},
     {"funciones.deriva"}, "imagen"),
    ("poda_por_nombre", {"module": edit(edit(PARTS["MODULE"], "    wanted = {key(obj) for obj in desired}",
                                             "    wanted = {obj['metadata']['name'] for obj in desired}"),
                                        "and key(obj) not in wanted]", "and obj['metadata']['name'] not in wanted]")},
     {"funciones.poda"}, "tipo y nombre"),
    ("modulo_roto", {"module": "def drifted(desired, live):\n    return False\n"},
     {"funciones.deriva", "funciones.poda"}, "to_prune"),
]


@pytest.mark.parametrize("changes,failing,word", [m[1:] for m in STATIC_MISTAKES],
                         ids=[m[0] for m in STATIC_MISTAKES])
def test_static_mistake_is_caught(changes, failing, word, tmp_path, gitops_cluster, without):
    # The cluster checks are hidden here (they are tested below with mistakes of their own);
    # aplicacion.valida needs the cluster, so the valuesFiles case keeps it.
    if "aplicacion.valida" not in failing:
        without("cluster")
    result = grade(build(tmp_path, **changes), "lab06")
    got = statuses(result)
    assert {c for c, s in got.items() if s == "failed"} == failing, result.to_markdown()
    assert word in message(result, sorted(failing)[0]) or any(word in message(result, c) for c in failing)
    assert not any(s == "error" for s in got.values()), result.to_markdown()


# Mistakes that only the live cluster reveals (with the grader's controller). Each grading
# takes half a minute, so mistakes that touch different checks share a submission; every
# failing check must name its own mistake.
NO_SELF_HEAL = edit(PARTS["APP_TEMPLATE"], "      selfHeal: true", "      selfHeal: false")
NO_PRUNE = edit(PARTS["APP_TEMPLATE"], "      prune: true", "      prune: false")
NEVER_DRIFT = edit(PARTS["MODULE"], "    def differs(want, have) -> bool:",
                   "    return False\n    def differs(want, have) -> bool:")
ALWAYS_DRIFT = edit(PARTS["MODULE"], "    def differs(want, have) -> bool:",
                    "    return desired != live\n    def differs(want, have) -> bool:")
PRUNE_ANYTHING = edit(ALWAYS_DRIFT, "            if (obj[\"metadata\"].get(\"labels\") or {}).get(TRACKING_LABEL) == app\n"
                      "            and key(obj) not in wanted]", "            if key(obj) not in wanted]")
VALID_BAD_COMMIT = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "roto"},
                    "data": {"replicas": "0"}}
CLUSTER_MISTAKES = [
    ("sin_selfheal+commit_roto_valido", {"app_template": NO_SELF_HEAL, "bad": VALID_BAD_COMMIT},
     {"aplicacion.politica": "selfHeal", "cluster.deriva": "selfHeal",
      "cluster.commit_roto": "no era inválido"}),
    ("sin_prune+drifted_nunca", {"app_template": NO_PRUNE, "module": NEVER_DRIFT},
     {"aplicacion.politica": "prune", "cluster.poda": "prune: true", "funciones.deriva": "drifted",
      "cluster.converge": "drifted", "cluster.deriva": "drifted"}),
    ("drifted_siempre+poda_sin_etiqueta", {"module": PRUNE_ANYTHING},
     {"funciones.deriva": "lo que añade el servidor", "cluster.deriva": "Sin tocar nada",
      "funciones.poda": "solo lo que es de la aplicación", "cluster.poda": "ajeno"}),
]


@pytest.mark.parametrize("changes,failing", [m[1:] for m in CLUSTER_MISTAKES],
                         ids=[m[0] for m in CLUSTER_MISTAKES])
def test_cluster_mistakes_are_caught(changes, failing, tmp_path, gitops_cluster):
    result = grade(build(tmp_path, **changes), "lab06")
    got = statuses(result)
    assert {c for c, s in got.items() if s == "failed"} == set(failing), result.to_markdown()
    for check_id, word in failing.items():
        assert word in message(result, check_id), (check_id, message(result, check_id))
    assert not any(s == "error" for s in got.values()), result.to_markdown()


def test_without_cluster_the_cluster_checks_are_skipped(tmp_path, without):
    without("cluster")
    result = grade(build(tmp_path), "lab06")
    got = statuses(result)
    assert all(got[c] == "skipped" for c in CLUSTER_CHECKS), got
    assert all(s == "passed" for c, s in got.items() if c not in CLUSTER_CHECKS), result.to_markdown()
    assert result.score == 1.0 and result.verifiable_points < result.total_points


# --- the overlays as Tarea 1 creates them (git and kubectl only, no cluster) -------------

STATIC_HISTORY = ["repo.inicial", "repo.entornos", "git.promocion", "git.revert"]


def test_overlays_created_at_the_first_release_pass(tmp_path, without):
    without("cluster")
    result = grade(build(tmp_path), "lab06", only=STATIC_HISTORY)
    assert set(statuses(result).values()) == {"passed"}, result.to_markdown()


def test_overlay_born_at_the_later_release_is_caught(tmp_path, without):
    """dev written directly with 1.1.0: the end state and the promotion look right, but
    Tarea 1 (dev with 1.0.0, then a release) was skipped."""
    without("cluster")
    dev = edit(PARTS["DEV"], "newTag: 1.0.0", "newTag: 1.1.0")
    result = grade(build(tmp_path, dev=dev, release_dev=False), "lab06", only=STATIC_HISTORY)
    got = statuses(result)
    assert got["repo.inicial"] == "failed", result.to_markdown()
    assert "catalogo:1.1.0" in message(result, "repo.inicial")
    assert "overlay de dev" in message(result, "repo.inicial")
    assert {k: v for k, v in got.items() if k != "repo.inicial"} == dict.fromkeys(
        STATIC_HISTORY[1:], "passed"), result.to_markdown()
