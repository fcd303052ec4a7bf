"""One handle on a Kubernetes cluster for cells and checks, whatever provides it.

Providers, tried in this order (never whatever kube context happens to be current:
that may be someone's work cluster):

1. ``contexto``: a context the user named in ``TEMA15_KUBE_CONTEXT`` (with ``KUBECONFIG``).
2. ``kind``: the course's own kind cluster ``tema15`` (real nodes, real pods).
3. ``local``: the course's local control plane: the official kube-apiserver,
   kube-controller-manager, kube-scheduler and etcd as local processes started by
   ``kwokctl --runtime=binary``, nodes and pod status simulated by kwok (real API,
   admission, controllers, rollouts, Helm releases; no container runs in a pod).

Without any of them the course works in static mode (render, lint, validate).
``TEMA15_CLUSTER=ninguno`` forces static mode; ``=kind`` or ``=local`` picks a provider.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from course import REPO_ROOT, show
from course.docker import NAME_PREFIX, RUN_LABEL

CLUSTER_NAME = "tema15"
K8S_VERSION = "1.35.4"
CONTEXT_ENV = "TEMA15_KUBE_CONTEXT"
MODE_ENV = "TEMA15_CLUSTER"
CACHE = Path(os.environ.get("TEMA15_CACHE", "~/.cache/tema15")).expanduser()
BIN_DIR = Path(os.environ.get("TEMA15_K8S_BIN", CACHE / "k8s" / f"v{K8S_VERSION}" / "bin"))
KWOK_WORKDIR = CACHE / "kwok"
KIND_KUBECONFIG = CACHE / f"kind-{CLUSTER_NAME}.kubeconfig"
KWOK_CONTEXTS = KWOK_WORKDIR / "contexts.kubeconfig"  # where kwokctl adds its context
OWNER_FILE = CACHE / f"cluster-{CLUSTER_NAME}.owner"
KWOK_CONFIG = REPO_ROOT / "deploy" / "kwok" / "kwok.yaml"
KWOK_NODES = REPO_ROOT / "deploy" / "kwok" / "nodes.yaml"
KIND_CONFIG = REPO_ROOT / "deploy" / "kind" / "cluster.yaml"
CLUSTER_SCOPED = ("clusterroles", "clusterrolebindings")  # the run-labelled ones are removed
LOCAL_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd",
                  "kwok", "kwokctl")

CONTEXT, KIND, LOCAL = "contexto", "kind", "local"
DESCRIPTION = {
    CONTEXT: "contexto elegido por ti",
    KIND: "kind (nodos reales)",
    LOCAL: "plano de control local (kwok: nodos simulados, los pods no ejecutan contenedores)",
}
HOW_TO = ("`curso cluster crear` crea el clúster del curso: con kind si lo tienes "
          "(`kind create cluster` necesita Docker y su imagen de nodo); si no, el plano de "
          "control local (compílalo una vez con `bash scripts/install_k8s.sh`, necesita Go). "
          f"Para usar otro clúster, define {CONTEXT_ENV}=<contexto>.")


class ClusterUnavailable(RuntimeError):
    """No cluster can be reached or created here (the message says why, in Spanish)."""


class CommandFailed(RuntimeError):
    """kubectl, helm, kind or kwokctl exited with an error (message with its stderr)."""

    def __init__(self, message: str, result: subprocess.CompletedProcess | None = None):
        super().__init__(message)
        self.result = result


# --- tools -------------------------------------------------------------------------------

def tool(name: str) -> str | None:
    """Path of a command line tool: the pinned one in the virtualenv first (the machine's
    own kubectl may be too old for a 1.35 server), then the course's cache, then PATH."""
    for folder in (Path(sys.executable).parent, BIN_DIR):
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def tools_path() -> str:
    """PATH with the pinned tools first (also for `!kubectl` lines in cells)."""
    first = [str(Path(sys.executable).parent), str(BIN_DIR)]
    rest = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p not in first]
    return os.pathsep.join(first + rest)


def local_binaries() -> tuple[dict[str, Path], list[str]]:
    """The local control plane's binaries that exist, and the names of those missing."""
    found, missing = {}, []
    for name in LOCAL_BINARIES:
        path = BIN_DIR / name
        if path.is_file() and os.access(path, os.X_OK):
            found[name] = path
        else:
            missing.append(name)
    return found, missing


def _run(cmd: list[str], *, env: dict | None = None, input: str | None = None,
         timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, input=input, env=env,
                                timeout=timeout, check=False)
    except FileNotFoundError:
        raise CommandFailed(f"No encuentro `{cmd[0]}`. {HOW_TO}") from None
    except subprocess.TimeoutExpired:
        raise CommandFailed(f"`{' '.join(_short(cmd))}` no terminó en {timeout:.0f} s.") from None
    if check:
        _raise_if_failed(result, _short(cmd))
    return result


def _raise_if_failed(result: subprocess.CompletedProcess, shown: list[str]) -> None:
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()[-3000:]
        raise CommandFailed(f"`{' '.join(shown)}` falló (código {result.returncode}):\n{detail}",
                            result)


def _short(cmd: list[str]) -> list[str]:
    return [Path(cmd[0]).name, *cmd[1:]]


def _clean_env(**extra: str) -> dict[str, str]:
    """Environment for long-lived cluster processes: pinned tools first, and without the
    run markers, so cleaning up one notebook's run never stops a shared cluster."""
    from course import processes

    env = {k: v for k, v in os.environ.items() if k not in (processes.RUN_ENV, "TEMA15_RUN_ID")}
    env["PATH"] = tools_path()
    env.update(extra)
    return env


# --- the handle --------------------------------------------------------------------------

@dataclass(frozen=True)
class Cluster:
    provider: str          # CONTEXT, KIND or LOCAL
    name: str
    kubeconfig: Path
    context: str | None
    version: str           # the API server's gitVersion
    pods: bool             # containers really run in pods (traffic, logs, exec)

    @property
    def description(self) -> str:
        return DESCRIPTION[self.provider]

    def summary(self) -> str:
        return f"{self.description}; Kubernetes {self.version}"

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PATH": tools_path(), "KUBECONFIG": str(self.kubeconfig)}
        env.pop("HELM_KUBECONTEXT", None)
        return env

    def _context_args(self) -> list[str]:
        return ["--context", self.context] if self.context else []

    def kubectl(self, *args: str, namespace: str | None = None, input: str | None = None,
                check: bool = True, echo: bool = True, timeout: float = 180) -> subprocess.CompletedProcess:
        """Run kubectl against this cluster; with ``echo`` print the command and its output
        as an operator would see them in a terminal."""
        extra = ["-n", namespace] if namespace else []
        return run_tool("kubectl", *self._context_args(), *args, *extra, env=self.env(),
                        input=input, check=check, echo=echo, timeout=timeout,
                        hide=self._context_args())

    def helm(self, *args: str, namespace: str | None = None, check: bool = True,
             echo: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        extra = ["--kube-context", self.context] if self.context else []
        extra += ["--namespace", namespace] if namespace else []
        return run_tool("helm", *args, *extra, env=self.env(), check=check, echo=echo,
                        timeout=timeout, hide=extra[:2] if self.context else [])

    def load_image(self, tag: str) -> bool:
        """Make a locally built image available to the cluster's nodes, without a registry.
        kind: `kind load docker-image`; local control plane: nothing to do (no container
        runs, nothing is pulled); a cluster of your own: push it to a registry it can reach."""
        if self.provider == KIND:
            run_tool("kind", "load", "docker-image", tag, "--name", self.name, env=self.env(),
                     timeout=300)
            return True
        if self.provider == LOCAL:
            return True
        show.warn(f"Con tu propio clúster, publica {tag} en un registro que alcancen sus nodos.")
        return False

    def api(self):
        """A ``kubernetes.client.ApiClient`` for this cluster (the Python client)."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig), context=self.context)

    def namespace(self, run: str | None = None, suffix: str = "") -> str:
        """Create (or reuse) the run's namespace ``t15-<run>[-suffix]``, labelled with the
        run id so that ``cleanup(run)`` deletes it."""
        from course import docker as cdocker

        manifest = namespace_manifest(run or cdocker.run_id(), suffix)
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest), echo=False)
        return manifest["metadata"]["name"]

    def namespaces(self, run: str = "*") -> list[str]:
        selector = RUN_LABEL if run == "*" else f"{RUN_LABEL}={run}"
        out = self.kubectl("get", "namespaces", "-l", selector, "-o", "name", echo=False,
                           timeout=30).stdout
        return [line.split("/", 1)[1] for line in out.split()]

    def delete_namespaces(self, run: str = "*", wait: bool = False) -> list[str]:
        names = self.namespaces(run)
        if names:
            self.kubectl("delete", "namespace", *names, f"--wait={str(wait).lower()}",
                         "--ignore-not-found", echo=False, timeout=120)
        return names

    def cluster_roles(self, run: str = "*") -> list[str]:
        """The run's cluster-wide RBAC objects (``curso corregir --aislado`` creates a
        read-only ClusterRole and its binding per submission), as kind/name."""
        selector = RUN_LABEL if run == "*" else f"{RUN_LABEL}={run}"
        return self.kubectl("get", ",".join(CLUSTER_SCOPED), "-l", selector, "-o", "name",
                            echo=False, timeout=30).stdout.split()

    def delete_cluster_roles(self, run: str = "*") -> list[str]:
        names = self.cluster_roles(run)
        if names:
            self.kubectl("delete", *names, "--ignore-not-found", echo=False, timeout=60)
        return names


def namespace_name(run: str, suffix: str = "") -> str:
    """``t15-<run>[-suffix]``: the name ``Cluster.namespace`` gives."""
    return (run if run.startswith(NAME_PREFIX) else f"{NAME_PREFIX}{run}") \
        + (f"-{suffix}" if suffix else "")


def namespace_manifest(run: str, suffix: str = "") -> dict:
    """The run's namespace as ``Cluster.namespace`` applies it (labelled with the run)."""
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace_name(run, suffix), "labels": {RUN_LABEL: run}}}


def run_tool(name: str, *args: str, env: dict | None = None, input: str | None = None,
             check: bool = True, echo: bool = True, timeout: float = 180,
             hide: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run kubectl, helm or kind (the pinned ones first). With ``echo``, print the command
    (minus ``hide``) and its output, as a terminal would show them."""
    cmd = [tool(name) or name, *args]
    shown = [a for a in _short(cmd) if a not in (hide or [])]
    if echo:
        show.console.print(f"[bold]$ {' '.join(shown)}[/bold]", highlight=False)
    result = _run(cmd, env=env or {**os.environ, "PATH": tools_path()}, input=input,
                  timeout=timeout, check=False)
    if echo:
        text = (result.stdout + result.stderr).rstrip()
        if text:
            print(text)
    if check:
        _raise_if_failed(result, shown)
    return result


def helm(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """helm without a cluster (create, lint, template, show): works in static mode."""
    return run_tool("helm", *args, **kwargs)


def kubectl(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """kubectl without a cluster (kustomize, --dry-run=client): works in static mode."""
    return run_tool("kubectl", *args, **kwargs)


# --- finding a cluster -------------------------------------------------------------------

def _mode() -> str:
    return os.environ.get(MODE_ENV, "").strip().lower()


def _static_forced() -> bool:
    return _mode() in ("ninguno", "none", "estatico")


def _probe(kubeconfig: Path, context: str | None, timeout: float = 4) -> str | None:
    """The server's gitVersion, or None if it does not answer."""
    try:
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=str(kubeconfig), context=context)
        with api:
            return client.VersionApi(api).get_code(_request_timeout=timeout).git_version
    except Exception:  # unreachable, stale kubeconfig, wrong context: all mean "no"
        return None


def _runs_pods(kubeconfig: Path, context: str | None) -> bool:
    """True unless every node is a kwok-simulated one."""
    try:
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=str(kubeconfig), context=context)
        with api:
            nodes = client.CoreV1Api(api).list_node(_request_timeout=4).items
    except Exception:
        return False
    return any((n.metadata.annotations or {}).get("kwok.x-k8s.io/node") != "fake" for n in nodes)


def _explicit() -> Cluster | None:
    context = os.environ.get(CONTEXT_ENV, "").strip()
    if not context:
        return None
    kubeconfig = Path(os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0]).expanduser()
    version = _probe(kubeconfig, context)
    if version is None:
        return None
    return Cluster(CONTEXT, context, kubeconfig, context, version, _runs_pods(kubeconfig, context))


def _kind() -> Cluster | None:
    kind = tool("kind")
    if not kind:
        return None
    try:
        names = _run([kind, "get", "clusters"], timeout=20).stdout.split()
    except CommandFailed:
        return None
    if CLUSTER_NAME not in names:
        return None
    try:
        config = _run([kind, "get", "kubeconfig", "--name", CLUSTER_NAME], timeout=20).stdout
    except CommandFailed:
        return None
    KIND_KUBECONFIG.parent.mkdir(parents=True, exist_ok=True)
    KIND_KUBECONFIG.write_text(config)
    KIND_KUBECONFIG.chmod(0o600)
    version = _probe(KIND_KUBECONFIG, None)
    return Cluster(KIND, CLUSTER_NAME, KIND_KUBECONFIG, None, version, True) if version else None


def _local_kubeconfig() -> Path:
    return KWOK_WORKDIR / "clusters" / CLUSTER_NAME / "kubeconfig.yaml"


def _local() -> Cluster | None:
    kubeconfig = _local_kubeconfig()
    if not kubeconfig.exists():
        return None
    version = _probe(kubeconfig, None)
    return Cluster(LOCAL, CLUSTER_NAME, kubeconfig, None, version, False) if version else None


def find() -> Cluster | None:
    """The cluster the course should use right now, or None (static mode)."""
    if _static_forced():
        return None
    mode = _mode()
    explicit = _explicit()
    if explicit or os.environ.get(CONTEXT_ENV):
        return explicit
    providers = {KIND: _kind, LOCAL: _local}
    order = [mode] if mode in providers else [KIND, LOCAL]
    for key in order:
        found = providers[key]()
        if found:
            return found
    return None


def why_none() -> str:
    """A Spanish sentence saying why ``find()`` returned None."""
    if _static_forced():
        return f"modo estático forzado con {MODE_ENV}={os.environ[MODE_ENV]}"
    if os.environ.get(CONTEXT_ENV):
        return f"el contexto {os.environ[CONTEXT_ENV]!r} ({CONTEXT_ENV}) no responde"
    if _local_kubeconfig().exists():
        return ("el plano de control local de una sesión anterior existe pero no responde "
                "(`curso cluster crear` lo vuelve a crear)")
    _, missing = local_binaries()
    parts = ["no hay clúster del curso en marcha"]
    if not tool("kind") and missing:
        parts.append("ni kind ni los binarios del plano de control local "
                     f"(faltan {', '.join(missing)})")
    return "; ".join(parts)


# --- creating and deleting ---------------------------------------------------------------

def can_create() -> str | None:
    """The provider ``create()`` would use, or None."""
    if _static_forced() or os.environ.get(CONTEXT_ENV):
        return None
    if _mode() != LOCAL and tool("kind") and _docker_ok():
        return KIND
    if _mode() != KIND and not local_binaries()[1] and tool("kubectl"):
        return LOCAL
    return None


def _docker_ok() -> bool:
    from course import env

    return env.has("docker")


def create(owner: str | None = None, *, progress: bool = True) -> Cluster:
    """Create the course's cluster (kind, else the local control plane) and wait until it
    answers. ``owner``: the run that created it, so that its cleanup deletes it too."""
    existing = find()
    if existing:
        return existing
    provider = can_create()
    if provider is None:
        raise ClusterUnavailable(f"No puedo crear un clúster aquí: {why_none()}. {HOW_TO}")
    say = show.info if progress else (lambda _m: None)
    started = time.monotonic()
    if provider == KIND:
        try:
            say("Creando el clúster kind «tema15» (1–2 minutos la primera vez)…")
            _create_kind()
        except CommandFailed as exc:
            if local_binaries()[1]:
                raise ClusterUnavailable(f"kind no pudo crear el clúster: {exc}") from None
            say("kind no pudo crear el clúster (¿sin su imagen de nodo?); uso el plano de "
                "control local.")
            provider = LOCAL
    if provider == LOCAL:
        if _local_kubeconfig().exists():
            # Left by a previous session (a reboot, a run cut short). Restarting it on its
            # old etcd data was measured to stall pods for 16 s to over a minute while the
            # controllers sort out stale nodes and objects; a new one takes 5 s.
            say("El plano de control local de una sesión anterior no responde: lo borro y "
                "creo uno nuevo.")
            _delete_local(quiet=True)
        say("Arrancando el plano de control local (etcd, kube-apiserver, "
            "kube-controller-manager, kube-scheduler y kwok)…")
        _create_local()
    cluster = find()
    if cluster is None:
        raise ClusterUnavailable(f"El clúster se creó pero no responde: {why_none()}.")
    if owner:
        OWNER_FILE.write_text(owner)
    else:
        OWNER_FILE.unlink(missing_ok=True)
    say(f"Clúster listo en {time.monotonic() - started:.1f} s: {cluster.summary()}.")
    _refresh_env()
    return cluster


def _create_kind() -> None:
    KIND_KUBECONFIG.parent.mkdir(parents=True, exist_ok=True)
    # --kubeconfig keeps the user's ~/.kube/config (and its current context) untouched.
    _run([tool("kind") or "kind", "create", "cluster", "--name", CLUSTER_NAME, "--config",
          str(KIND_CONFIG), "--kubeconfig", str(KIND_KUBECONFIG), "--wait", "120s"],
         env=_clean_env(), timeout=600)


def _create_local() -> None:
    found, missing = local_binaries()
    if missing:
        raise ClusterUnavailable(f"Faltan binarios del plano de control local: "
                                 f"{', '.join(missing)} en {BIN_DIR}. {HOW_TO}")
    KWOK_WORKDIR.mkdir(parents=True, exist_ok=True)
    env = _clean_env(KWOK_WORKDIR=str(KWOK_WORKDIR), KWOK_KUBECTL_BINARY=tool("kubectl") or "")
    # A kubeconfig of its own: kwokctl would otherwise add a context to ~/.kube/config
    # and make it the current one.
    cmd = [str(found["kwokctl"]), "create", "cluster", "--name", CLUSTER_NAME,
           "--config", str(KWOK_CONFIG), "--runtime", "binary", "--kubeconfig", str(KWOK_CONTEXTS),
           "--kube-apiserver-binary", str(found["kube-apiserver"]),
           "--kube-controller-manager-binary", str(found["kube-controller-manager"]),
           "--kube-scheduler-binary", str(found["kube-scheduler"]),
           "--etcd-binary", str(found["etcd"]),
           "--kwok-controller-binary", str(found["kwok"]),
           "--wait", "90s", "--timeout", "180s"]
    try:
        _run(cmd, env=env, timeout=240)
    except CommandFailed:
        _delete_local(quiet=True)  # never leave half a cluster behind
        raise
    cluster = _local()
    if cluster is None:
        _delete_local(quiet=True)
        raise ClusterUnavailable("El plano de control local arrancó pero no responde.")
    cluster.kubectl("apply", "-f", str(KWOK_NODES), echo=False)
    cluster.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=60s", echo=False)


def _delete_local(quiet: bool = False) -> None:
    kwokctl = BIN_DIR / "kwokctl"
    if not kwokctl.exists():
        return
    env = _clean_env(KWOK_WORKDIR=str(KWOK_WORKDIR))
    _run([str(kwokctl), "delete", "cluster", "--name", CLUSTER_NAME, "--kubeconfig",
          str(KWOK_CONTEXTS)], env=env, timeout=120, check=not quiet)


def delete(progress: bool = True) -> list[str]:
    """Delete the course's own clusters (never a context named by the user)."""
    deleted = []
    kind = tool("kind")
    if kind and _kind() is not None:
        _run([kind, "delete", "cluster", "--name", CLUSTER_NAME, "--kubeconfig",
              str(KIND_KUBECONFIG)], env=_clean_env(), timeout=300)
        deleted.append(KIND)
    if _local_kubeconfig().parent.exists():
        _delete_local()
        deleted.append(LOCAL)
    OWNER_FILE.unlink(missing_ok=True)
    if progress:
        show.info("Clúster borrado: " + ", ".join(deleted) if deleted
                  else "No había clúster del curso que borrar.")
    _refresh_env()
    return deleted


def owner() -> str | None:
    try:
        return OWNER_FILE.read_text().strip() or None
    except OSError:
        return None


def ensure(run: str | None = None) -> Cluster | None:
    """The current cluster; if there is none and one can be created, create it for
    ``run`` (its cleanup deletes it again). None, with the reason shown, otherwise."""
    cluster = find()
    if cluster:
        return cluster
    if can_create() is None:
        show.skipped(f"Sin clúster Kubernetes: {why_none()}. Las celdas de clúster se omiten; "
                     f"el resto funciona en modo estático. {HOW_TO}")
        return None
    from course import docker as cdocker

    return create(owner=run or cdocker.run_id())


def cleanup(run: str | None = None, quiet: bool = True) -> list[str]:
    """Delete the run's namespaces ("*": every course namespace) and, if the run created
    the cluster, the cluster too. Never raises: it runs in ``finally`` blocks."""
    from course import docker as cdocker

    run = run or cdocker.run_id()
    removed: list[str] = []
    cluster = find()
    if cluster:
        try:
            removed = cluster.delete_namespaces(run)
        except CommandFailed as exc:
            if not quiet:
                show.warn(f"No pude borrar los espacios de nombres: {exc}")
        try:
            cluster.delete_cluster_roles(run)
        except CommandFailed as exc:
            if not quiet:
                show.warn(f"No pude borrar los permisos del clúster: {exc}")
    delete_if_created_by(run, quiet=quiet)
    if not quiet:
        show.info(f"Espacios de nombres del curso borrados: {len(removed)}.")
    return removed


def delete_if_created_by(run: str, quiet: bool = True) -> None:
    """Delete the course's cluster if ``run`` created it ("*": whoever did). Never raises."""
    creator = owner()
    if creator and (run == "*" or creator == run):
        try:
            delete(progress=not quiet)
        except (CommandFailed, ClusterUnavailable) as exc:
            if not quiet:
                show.warn(f"No pude borrar el clúster: {exc}")


def _refresh_env() -> None:
    # The cluster and pods capabilities are probed again when next asked for.
    from course import env

    env.forget()


# --- reading state -----------------------------------------------------------------------

# libyaml's safe loader when PyYAML was built with it: several times faster than the pure
# Python one on rendered charts and CRD files (a lab04 grading spent 0.47 of 2.9 s here).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def objects(text: str) -> list[dict]:
    """The Kubernetes objects in a multi-document YAML string (empty documents dropped)."""
    return [doc for doc in yaml.load_all(text, Loader=_YAML_LOADER) if isinstance(doc, dict)]


def sample_rollout(cluster: Cluster, namespace: str, name: str, *, timeout: float = 120,
                   interval: float = 0.5) -> list[dict]:
    """Watch a Deployment until its rollout completes (or ``timeout``) and return samples
    of its status over time: t, replicas, updated, ready, available, unavailable."""
    from kubernetes import client

    samples: list[dict] = []
    started = time.monotonic()
    with cluster.api() as api:
        apps = client.AppsV1Api(api)
        while True:
            dep = apps.read_namespaced_deployment_status(name, namespace)
            st, want = dep.status, dep.spec.replicas or 0
            samples.append({"t": round(time.monotonic() - started, 2), "deseadas": want,
                            "total": st.replicas or 0, "actualizadas": st.updated_replicas or 0,
                            "listas": st.ready_replicas or 0,
                            "disponibles": st.available_replicas or 0,
                            "no_disponibles": st.unavailable_replicas or 0})
            done = (st.observed_generation or 0) >= dep.metadata.generation and \
                (st.updated_replicas or 0) == want and (st.available_replicas or 0) == want \
                and (st.replicas or 0) == want
            if done or time.monotonic() - started > timeout:
                return samples
            time.sleep(interval)
