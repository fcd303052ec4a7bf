"""Image catalogue: mirrors taken from the host's apt sources, the host CA bundle, and
stand-ins that behave like the official images for what the course uses."""
import pytest

from course import images, standins


def write_sources(root, sources_list="", **parts):
    (root / "sources.list.d").mkdir(parents=True, exist_ok=True)
    (root / "sources.list").write_text(sources_list)
    for name, text in parts.items():
        (root / "sources.list.d" / name.replace("_", ".")).write_text(text)
    return root


def test_mirror_from_deb822_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("TEMA15_DEBIAN_MIRROR", raising=False)
    root = write_sources(tmp_path, debian_sources=(
        "Types: deb\nURIs: http://mirror.example.org/debian\nSuites: trixie trixie-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://mirror.example.org/debian-security\n"
        "Suites: trixie-security\nComponents: main\n"),
        nodesource_sources="Types: deb\nURIs: https://deb.nodesource.com/node_20.x\n"
                           "Suites: nodistro\nComponents: main\n")
    assert standins.debian_sources(root) == [
        "deb http://mirror.example.org/debian bookworm main",
        "deb http://mirror.example.org/debian bookworm-updates main",
        "deb http://mirror.example.org/debian-security bookworm-security main",
    ]


def test_mirror_from_one_line_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("TEMA15_DEBIAN_MIRROR", raising=False)
    root = write_sources(tmp_path, "# comment\ndeb [arch=amd64] http://ftp.es.debian.org/debian/ "
                                   "bookworm main contrib\n"
                                   "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n")
    assert standins.debian_sources(root)[0] == "deb http://ftp.es.debian.org/debian bookworm main"
    assert len(standins.debian_sources(root)) == 2  # no security mirror declared


def test_mirror_override_and_missing(tmp_path, monkeypatch):
    root = write_sources(tmp_path)
    monkeypatch.delenv("TEMA15_DEBIAN_MIRROR", raising=False)
    with pytest.raises(images.ImageUnavailable, match="TEMA15_DEBIAN_MIRROR"):
        standins.debian_sources(root)
    monkeypatch.setenv("TEMA15_DEBIAN_MIRROR", "http://espejo.local/debian")
    assert standins.debian_sources(root)[0] == "deb http://espejo.local/debian bookworm main"


def test_host_ca_bundle(tmp_path, monkeypatch):
    for var in standins.CA_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    assert standins.host_ca_bundle() is None
    bundle = tmp_path / "corp.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    assert standins.host_ca_bundle() is None  # a declared file that does not exist is ignored
    monkeypatch.setenv("PIP_CERT", str(bundle))
    assert standins.host_ca_bundle() == bundle


def test_catalogue_references_are_pinned():
    for img in images.CATALOG.values():
        tag = img.reference.rsplit(":", 1)[1]
        assert tag != "latest" and any(ch.isdigit() for ch in tag), img.reference


def test_unknown_image_key():
    with pytest.raises(KeyError, match="Imagen desconocida"):
        images.ensure("nginx")


@pytest.fixture(scope="module")
def python_slim(docker_client):
    return images.ensure("python-slim")


def test_python_slim_behaves_like_official(docker_client, python_slim):
    script = ("set -e; python --version; pip --version; python -m venv /tmp/v; "
              "/tmp/v/bin/python -c 'import sys; print(sys.prefix)'")
    out = docker_client.containers.run(python_slim, ["sh", "-c", script], remove=True).decode()
    assert "Python 3.11" in out and "pip " in out and "/tmp/v" in out


def test_standin_is_labelled(docker_client, python_slim):
    if images.status("python-slim") != "sustituto":
        pytest.skip("la imagen local es la oficial: no hay sustituto que comprobar")
    labels = docker_client.images.get(python_slim).labels
    assert labels[standins.STANDIN_LABEL] == python_slim
    assert "no es la imagen oficial" in labels["org.opencontainers.image.description"]


def test_standin_trusts_host_ca(docker_client, python_slim):
    if standins.host_ca_bundle() is None or images.status("python-slim") != "sustituto":
        pytest.skip("el anfitrión no declara un paquete de CA (PIP_CERT, SSL_CERT_FILE…)")
    env = docker_client.images.get(python_slim).attrs["Config"]["Env"]
    assert f"PIP_CERT={standins.CA_PATH_IN_IMAGE}" in env
    out = docker_client.containers.run(python_slim, ["sh", "-c", f"head -n 1 {standins.CA_PATH_IN_IMAGE}"],
                                       remove=True).decode()
    assert out.startswith("-----BEGIN CERTIFICATE-----")


def test_prometheus_standin_answers(docker_client, run_id):
    from course import docker as cdocker

    ref = images.ensure("prometheus")
    version = docker_client.containers.run(ref, ["--version"], remove=True).decode()
    assert "prometheus, version" in version
    check = docker_client.containers.run(ref, ["check", "config", "/etc/prometheus/prometheus.yml"],
                                         entrypoint="/bin/promtool", remove=True).decode()
    assert "SUCCESS" in check
    server = docker_client.containers.run(ref, detach=True, name=cdocker.name("prom", run_id),
                                          labels=cdocker.labels(run_id))
    code = "\n".join(docker_client.containers.run(
        images.ensure("python-slim"), ["python", "-c",
        "import urllib.request,time\nfor _ in range(60):\n try:\n  print(urllib.request.urlopen("
        "'http://127.0.0.1:9090/-/ready').status); break\n except OSError: time.sleep(0.5)"],
        remove=True, network_mode=f"container:{server.id}").decode().split())
    assert code.endswith("200")


def test_registry_standin_answers(docker_client, run_id):
    from course import docker as cdocker

    server = docker_client.containers.run(images.ensure("registry"), detach=True,
                                          name=cdocker.name("registro", run_id),
                                          labels=cdocker.labels(run_id))
    out = docker_client.containers.run(images.ensure("python-slim"), ["python", "-c",
        "import urllib.request,time\nfor _ in range(60):\n try:\n  r=urllib.request.urlopen("
        "'http://127.0.0.1:5000/v2/'); print(r.status, r.headers['Docker-Distribution-Api-Version']); break\n"
        " except OSError: time.sleep(0.5)"], remove=True,
        network_mode=f"container:{server.id}").decode()
    assert "200 registry/2.0" in out


def test_changed_recipe_marks_standin_outdated(docker_client, python_slim, monkeypatch):
    if images.status("python-slim") != "sustituto":
        pytest.skip("la imagen local es la oficial: no hay receta que comparar")
    monkeypatch.setattr(images, "recipe_hash", lambda img: "otra-receta")
    assert images.status("python-slim") == "sustituto desactualizado"


def test_a_changed_base_recipe_outdates_the_standins_built_on_it(monkeypatch):
    """python-slim is built on the debian stand-in: a new debian recipe must rebuild it,
    or it would keep the old base while its own recipe looks unchanged."""
    before = {key: images.recipe_hash(images.CATALOG[key]) for key in ("debian", "python-slim")}
    own = standins.recipe_hash
    monkeypatch.setattr(standins, "recipe_hash",
                        lambda recipe, support=(): own(recipe, support) + ("-nueva" if recipe == "debian" else ""))
    after = {key: images.recipe_hash(images.CATALOG[key]) for key in ("debian", "python-slim")}
    assert after["debian"] != before["debian"] and after["python-slim"] != before["python-slim"]


def write_wheel(folder):
    """A pure-Python wheel with a module and a console script, made by hand: pip installs
    it with --no-index, so the layout tests need no package index."""
    import base64
    import hashlib
    import zipfile

    files = {
        "capas.py": "def main():\n    print('capas OK')\n",
        "capas-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: capas\nVersion: 1.0\n",
        "capas-1.0.dist-info/WHEEL": ("Wheel-Version: 1.0\nGenerator: tema15\n"
                                      "Root-Is-Purelib: true\nTag: py3-none-any\n"),
        "capas-1.0.dist-info/entry_points.txt": "[console_scripts]\ncapas = capas:main\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append("capas-1.0.dist-info/RECORD,,")
    wheel = folder / "capas-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr("capas-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel.name


# What students copy from the official image's documentation and common guides: each must
# work on the stand-in as on python:3.11-slim (interpreter at /usr/local/bin/python).
INSTALL_LAYOUTS = {
    "prefix": ("RUN pip install --no-index --prefix=/install /tmp/{wheel}",
               "COPY --from=deps /install /usr/local", "capas && python -c 'import capas'"),
    "user": ("RUN pip install --no-index --user /tmp/{wheel}",
             "COPY --from=deps /root/.local /root/.local",
             "/root/.local/bin/capas && python -c 'import capas'"),
    "venv": ("RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-index /tmp/{wheel}",
             "COPY --from=deps /opt/venv /opt/venv",
             "/opt/venv/bin/capas && /opt/venv/bin/python -c 'import capas'"),
    "system": ("RUN python -m pip install --no-index /tmp/{wheel}", "",
               "capas && python -c 'import capas'"),
}


@pytest.mark.parametrize("layout", sorted(INSTALL_LAYOUTS))
def test_python_slim_install_layouts_work_as_on_the_official_image(
        docker_client, python_slim, run_id, tmp_path, layout):
    from course import imagebuild

    install, copy, check = INSTALL_LAYOUTS[layout]
    wheel = write_wheel(tmp_path)
    final = f"FROM {python_slim}\n{copy}\n" if copy else ""
    (tmp_path / "Dockerfile").write_text(
        f"FROM {python_slim} AS deps\nCOPY {wheel} /tmp/\n{install.format(wheel=wheel)}\n{final}"
        "RUN test \"$(command -v python)\" = /usr/local/bin/python\n")
    tag = f"t15-{run_id}-capas-{layout}:1"
    imagebuild.build(tmp_path, tag, run=run_id, quiet=True)
    out = docker_client.containers.run(tag, ["sh", "-c", check], remove=True).decode()
    assert "capas OK" in out
