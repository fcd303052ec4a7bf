"""The course's container images: the catalogue of pinned official references, and
``ensure(key)``: present already → pulled from the registry → or, when it cannot be
pulled (no registry, or ``offline=True``), a local stand-in built from Debian packages
(``course.standins``), tagged with the official reference so unchanged Dockerfiles and
compose files work.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from docker.errors import APIError, ImageNotFound

from course import docker as cdocker
from course import show, standins
from course.standins import ImageUnavailable


@dataclass(frozen=True)
class CourseImage:
    key: str
    reference: str
    purpose: str
    standin: str | None = None      # recipe in standins/<standin>.Dockerfile
    base: str | None = None         # key of the image the stand-in builds on
    support: tuple[str, ...] = ()   # extra files the recipe COPYs
    trusts_ca: bool = False         # gets the host CA bundle when one is declared


CATALOG: dict[str, CourseImage] = {img.key: img for img in (
    CourseImage("debian", "debian:12.12-slim", "base de los sustitutos locales",
                standin="debian", trusts_ca=True),
    CourseImage("python-slim", "python:3.11.13-slim-bookworm",
                "base de la imagen del servicio", standin="python-slim", base="debian",
                trusts_ca=True),
    CourseImage("python", "python:3.11.13-bookworm",
                "imagen completa (con compiladores) para comparar tamaños", standin="python",
                base="python-slim", trusts_ca=True),
    CourseImage("postgres", "postgres:15.14-bookworm", "base de datos del entorno local",
                standin="postgres", base="debian", support=("postgres-entrypoint.sh",)),
    CourseImage("redis", "redis:7.0.15-bookworm", "caché del entorno local",
                standin="redis", base="debian"),
    CourseImage("prometheus", "prom/prometheus:v2.53.5", "servidor de métricas",
                standin="prometheus", base="debian", support=("prometheus.yml",)),
    CourseImage("alertmanager", "prom/alertmanager:v0.27.0", "enrutado de alertas",
                standin="alertmanager", base="debian"),
    CourseImage("registry", "registry:2.8.3", "registro de imágenes local",
                standin="registry", base="debian", support=("registry-config.yml",)),
    CourseImage("grafana", "grafana/grafana:11.6.5", "paneles de métricas"),
    CourseImage("loki", "grafana/loki:3.5.5", "almacén de logs"),
    CourseImage("kind-node", "kindest/node:v1.33.1", "nodo del clúster kind"),
)}


def status(key: str) -> str:
    """'oficial', 'sustituto', 'sustituto desactualizado' (its recipe changed since it
    was built) or 'ausente' for the local copy of a catalogue image."""
    try:
        image = cdocker.client().images.get(CATALOG[key].reference)
    except ImageNotFound:
        return "ausente"
    labels = image.labels or {}
    if standins.STANDIN_LABEL not in labels:
        return "oficial"
    return "sustituto" if labels.get(standins.RECIPE_LABEL) == recipe_hash(CATALOG[key]) \
        else "sustituto desactualizado"


def recipe_hash(img: CourseImage) -> str:
    """The stand-in's recipe hash, chained to its base's: a changed base recipe rebuilds
    every stand-in built on it."""
    own = standins.recipe_hash(img.standin, img.support)
    if not img.base:
        return own
    return hashlib.sha256(f"{own}:{recipe_hash(CATALOG[img.base])}".encode()).hexdigest()[:16]


def ensure(key: str, *, offline: bool = False, rebuild: bool = False) -> str:
    """Make the image available locally and return its reference.

    Order: already present → pull the official image → build the stand-in.
    """
    img = _get(key)
    if not rebuild and status(key) in ("oficial", "sustituto"):
        return img.reference
    if status(key) == "sustituto desactualizado":
        offline = True  # it was built here because pulls fail: rebuild it straight away
    if not offline and not rebuild and _pull(img):
        if img.trusts_ca and standins.host_ca_bundle():
            standins.add_host_ca(img.reference)
        return img.reference
    if img.standin is None:
        raise ImageUnavailable(
            f"No se pudo descargar {img.reference} y no existe un sustituto local: "
            "esta imagen solo se obtiene del registro (Docker Hub). Las partes que la "
            "usan se omiten en esta máquina.")
    if img.base:
        ensure(img.base, offline=True)
    standins.build(img.reference, img.standin, support=img.support, trusts_ca=img.trusts_ca,
                   base=CATALOG[img.base].reference if img.base else None,
                   recipe_id=recipe_hash(img))
    return img.reference


def ensure_all(*, offline: bool = False, rebuild: bool = False,
               keys: list[str] | None = None) -> dict[str, str]:
    """Ensure several images; returns key → Spanish result, never raises per image."""
    results = {}
    for key in keys or list(CATALOG):
        try:
            ensure(key, offline=offline, rebuild=rebuild)
            results[key] = status(key)
        except ImageUnavailable as exc:
            results[key] = f"no disponible: {exc}"
    return results


def _get(key: str) -> CourseImage:
    if key not in CATALOG:
        raise KeyError(f"Imagen desconocida: {key!r}. Opciones: {', '.join(CATALOG)}.")
    return CATALOG[key]


def _pull(img: CourseImage) -> bool:
    repo, tag = img.reference.rsplit(":", 1)
    show.info(f"Descargando {img.reference}…")
    try:
        cdocker.client().images.pull(repo, tag=tag)
    except APIError as exc:
        show.warn(f"No se pudo descargar {img.reference}: {exc.explanation or exc}")
        return False
    return True


