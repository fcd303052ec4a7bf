"""Local stand-ins for the course's official images, built from Debian packages when the
registry cannot be reached (this project's CI, an offline classroom).

A stand-in is tagged with the official reference and says what it is in its OCI
description and the ``tema15.sustituto`` label. Course-built images trust the host's
extra CA bundle when the host declares one (``TEMA15_CA_BUNDLE``, ``PIP_CERT``,
``SSL_CERT_FILE`` or ``REQUESTS_CA_BUNDLE``), so ``pip install`` inside builds works
behind TLS-intercepting proxies.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from docker.errors import APIError, ImageNotFound

from course import docker as cdocker
from course import imagebuild
from course import show

STANDIN_DIR = Path(__file__).parent / "standins"
STANDIN_LABEL = "tema15.sustituto"
RECIPE_LABEL = "tema15.receta"  # hash of the recipe: a changed recipe means a rebuild
CA_LABEL = "tema15.ca-anfitrion"
CA_PATH_IN_IMAGE = "/etc/ssl/certs/tema15-anfitrion.pem"
CA_ENV_VARS = ("TEMA15_CA_BUNDLE", "PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
ROOTFS_TAG = "tema15/rootfs:bookworm"
SUITE = "bookworm"  # the stand-ins mirror the official images' Debian 12 base
MERGED_USR_HOOK = Path("/usr/share/mmdebstrap/hooks/merged-usr")  # shipped with mmdebstrap


class ImageUnavailable(RuntimeError):
    """An image can neither be pulled nor built here; the message says why (Spanish)."""


def host_ca_bundle() -> Path | None:
    """The CA bundle the host declares for HTTPS clients, if any."""
    for var in CA_ENV_VARS:
        value = os.environ.get(var)
        if value and Path(value).is_file():
            return Path(value)
    return None


def recipe_hash(recipe: str, support: Sequence[str] = ()) -> str:
    """Hash of a recipe and the files it copies: a changed recipe means a rebuild."""
    digest = hashlib.sha256()
    for name in (f"{recipe}.Dockerfile", *support):
        digest.update((STANDIN_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def build(reference: str, recipe: str, *, base: str | None, recipe_id: str,
          support: Sequence[str] = (), trusts_ca: bool = False) -> None:
    """Build ``standins/<recipe>.Dockerfile`` on ``base`` (an image reference; None: a
    Debian root filesystem bootstrapped here) and tag it ``reference``, labelled with
    ``recipe_id`` (``images.recipe_hash``: this recipe's and its base's)."""
    show.info(f"Construyendo el sustituto local de {reference} con paquetes de Debian…")
    with tempfile.TemporaryDirectory(prefix="t15-standin-") as tmp:
        ctx = Path(tmp)
        buildargs = {"BASE": base} if base else {"ROOTFS": _import_rootfs()}
        dockerfile = (STANDIN_DIR / f"{recipe}.Dockerfile").read_text()
        for name in support:
            shutil.copy(STANDIN_DIR / name, ctx / name)
        dockerfile += _ca_snippet(ctx) if trusts_ca else ""
        (ctx / "Dockerfile").write_text(dockerfile)
        description = (f"Sustituto local de {reference} construido con paquetes de "
                       f"Debian {SUITE}; no es la imagen oficial.")
        imagebuild.build(ctx, reference, buildargs=buildargs, run="", extra_labels={
            STANDIN_LABEL: reference,
            RECIPE_LABEL: recipe_id,
            "org.opencontainers.image.description": description,
            "org.opencontainers.image.title": f"{reference} (sustituto)",
        })
    if not base:
        _untag(ROOTFS_TAG)
    _prune_dangling()


def add_host_ca(reference: str) -> None:
    """Layer the host CA bundle on a pulled official image, keeping its reference."""
    show.info(f"Añadiendo la CA del anfitrión a {reference} (proxy TLS corporativo)…")
    with tempfile.TemporaryDirectory(prefix="t15-ca-") as tmp:
        ctx = Path(tmp)
        (ctx / "Dockerfile").write_text(f"FROM {reference}\n" + _ca_snippet(ctx))
        imagebuild.build(ctx, reference, run="", quiet=True)


def _ca_snippet(ctx: Path) -> str:
    bundle = host_ca_bundle()
    if bundle is None:
        return ""
    shutil.copy(bundle, ctx / "tema15-ca.pem")
    return (f"\nCOPY tema15-ca.pem {CA_PATH_IN_IMAGE}\n"
            f"ENV SSL_CERT_FILE={CA_PATH_IN_IMAGE} PIP_CERT={CA_PATH_IN_IMAGE} "
            f"REQUESTS_CA_BUNDLE={CA_PATH_IN_IMAGE}\n"
            f"LABEL {CA_LABEL}=true\n")


def _import_rootfs() -> str:
    """Bootstrap a minimal Debian root filesystem with mmdebstrap and import it."""
    if not shutil.which("mmdebstrap"):
        raise ImageUnavailable(
            "Para construir sustitutos locales hace falta `mmdebstrap` (paquete de Debian: "
            "`apt-get install mmdebstrap`). Con acceso a Docker Hub no hace falta: las "
            "imágenes oficiales se descargan.")
    sources = debian_sources()
    excludes = ["/usr/share/man/*", "/usr/share/locale/*", "/usr/share/doc/*",
                "/usr/share/info/*"]
    includes = ["/usr/share/locale/locale.alias", "/usr/share/doc/*/copyright"]
    with tempfile.TemporaryDirectory(prefix="t15-rootfs-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        cmd = ["mmdebstrap", "--variant=minbase", "--quiet"]
        if MERGED_USR_HOOK.is_dir():
            # As the official images: /usr merged by mmdebstrap and usr-is-merged installed,
            # so apt never pulls usrmerge, which brings the whole of perl (~50 MB).
            cmd.append(f"--hook-dir={MERGED_USR_HOOK}")
        cmd += [f"--dpkgopt=path-exclude={p}" for p in excludes]
        cmd += [f"--dpkgopt=path-include={p}" for p in includes]
        cmd += [SUITE, str(tarball), *sources]
        show.info(f"mmdebstrap {SUITE} desde {sources[0].split()[1]} (unos 30 s)…")
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ImageUnavailable(f"mmdebstrap falló:\n{done.stderr[-2000:]}")
        repo, tag = ROOTFS_TAG.split(":")
        cdocker.client().api.import_image(src=str(tarball), repository=repo, tag=tag)
    return ROOTFS_TAG


def debian_sources(sources_dir: Path = Path("/etc/apt")) -> list[str]:
    """One-line apt sources for the stand-ins, taken from the host's Debian mirrors.

    Never a hard-coded host: ``TEMA15_DEBIAN_MIRROR`` (and optionally
    ``TEMA15_DEBIAN_SECURITY_MIRROR``) override what the host's apt configuration says.
    """
    main = os.environ.get("TEMA15_DEBIAN_MIRROR")
    security = os.environ.get("TEMA15_DEBIAN_SECURITY_MIRROR")
    if not main:
        for uri, suite in _host_apt_entries(sources_dir):
            if suite.endswith("-security"):
                security = security or uri
            elif re.fullmatch(r"[a-z]+(-updates)?", suite) and uri.rstrip("/").endswith("/debian"):
                main = main or uri
    if not main:
        raise ImageUnavailable(
            "No encuentro un espejo de Debian en la configuración de apt del anfitrión. "
            "Indica uno con la variable TEMA15_DEBIAN_MIRROR (por ejemplo, el espejo "
            "de tu organización).")
    lines = [f"deb {main.rstrip('/')} {SUITE} main", f"deb {main.rstrip('/')} {SUITE}-updates main"]
    if security:
        lines.append(f"deb {security.rstrip('/')} {SUITE}-security main")
    return lines


def _host_apt_entries(sources_dir: Path) -> list[tuple[str, str]]:
    """(uri, suite) pairs from sources.list files and deb822 .sources files."""
    entries: list[tuple[str, str]] = []
    files = [sources_dir / "sources.list", *sorted((sources_dir / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
                if "deb" not in fields.get("Types", "").split():
                    continue
                for uri in fields.get("URIs", "").split():
                    entries += [(uri, suite) for suite in fields.get("Suites", "").split()]
        else:
            for line in text.splitlines():
                parts = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(parts) >= 3 and parts[0] == "deb":
                    entries.append((parts[1], parts[2]))
    return entries


def _untag(tag: str) -> None:
    try:
        cdocker.client().images.remove(tag, noprune=True)
    except (ImageNotFound, APIError):
        pass  # still referenced or already gone: harmless


def _prune_dangling() -> None:
    """The classic builder leaves the untagged builder stage of multi-stage recipes.
    Every image built on a stand-in inherits its label, so hold the build lock: a build in
    progress elsewhere keeps its stage images."""
    with cdocker.build_lock(exclusive=True):
        cdocker.client().images.prune(filters={"dangling": True, "label": STANDIN_LABEL})
