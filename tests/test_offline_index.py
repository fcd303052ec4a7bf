"""The static index of grader.offline_index, read by the real pip over real HTTP (no
Docker): names are normalised as PEP 503 says, hashes are checked, and a package the index
lacks fails at once with the Spanish explanation."""
from __future__ import annotations

import functools
import subprocess
import sys
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from grader import offline_index


def make_wheel(folder, name: str, version: str) -> None:
    """A minimal valid wheel (pure Python, one module)."""
    dist = f"{name}-{version}"
    files = {f"{name.lower()}.py": "VALOR = 1\n",
             f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: prueba\nRoot-Is-Purelib: true\n"
                                        "Tag: py3-none-any\n"}
    files[f"{dist}.dist-info/RECORD"] = "".join(f"{path},,\n" for path in files) + \
        f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)


@pytest.fixture
def index_url(tmp_path):
    root = tmp_path / "indice"
    (root / "files").mkdir(parents=True)
    make_wheel(root / "files", "Tema15_Prueba", "1.0")
    make_wheel(root / "files", "Tema15_Prueba", "2.0")
    offline_index.write_index(root)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()


def pip(index_url: str, dest, *requirements: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--isolated", "--index-url", index_url,
         "--retries", "0", "--timeout", "5", "--dest", str(dest), *requirements],
        capture_output=True, text=True, timeout=120, check=False)


def test_pip_resolves_normalised_names_from_the_static_index(index_url, tmp_path):
    done = pip(index_url, tmp_path / "bajadas", "tema15.prueba<2")
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "bajadas").iterdir()] == ["Tema15_Prueba-1.0-py3-none-any.whl"]


def test_missing_package_fails_at_once_with_the_spanish_message(index_url, tmp_path):
    done = pip(index_url, tmp_path / "bajadas", "paquete-que-no-existe-tema15")
    assert done.returncode != 0
    assert offline_index.message(done.stdout + done.stderr) == (
        "la corrección aislada no tiene red: el paquete paquete-que-no-existe-tema15 no está en "
        "el índice local del curso")


def test_tampered_wheel_is_refused_by_its_hash(index_url, tmp_path):
    wheel = next((tmp_path / "indice" / "files").glob("*-2.0-*.whl"))
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    done = pip(index_url, tmp_path / "bajadas", "tema15-prueba==2.0")
    assert done.returncode != 0 and "HASH" in done.stderr.upper(), done.stderr


def test_pip_conf_names_the_gateway_as_index_and_trusted_host():
    conf = offline_index.pip_conf("172.17.0.1")
    assert "index-url = http://172.17.0.1:3141/simple/" in conf
    assert "trusted-host = 172.17.0.1" in conf
    assert "retries = 1" in conf
