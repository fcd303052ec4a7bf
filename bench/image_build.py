"""Measure the reference service image: base and final sizes, cold build time and the
rebuild time after a code-only change (the dependency layers must come from cache).

Run: .venv/bin/python bench/image_build.py   (needs a Docker engine; ~1 minute)
Prints one table; the ratios come from a single run, since the machines are noisy.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from results_io import show_and_save  # sibling module (run as a script)
from course import REPO_ROOT, images
from course import docker as cdocker
from course import imagebuild


def main() -> dict:
    client = cdocker.client()
    base = client.images.get(images.ensure("python-slim"))
    with cdocker.run_scope() as run, tempfile.TemporaryDirectory(prefix="t15-bench-") as tmp:
        ctx = Path(tmp) / "service"
        shutil.copytree(REPO_ROOT / "service", ctx)
        tag = f"{run}-catalogo:bench"
        cold = imagebuild.build(ctx, tag, run=run, nocache=True, quiet=True)
        main_py = ctx / "app" / "main.py"
        main_py.write_text(main_py.read_text() + "\n# bench: code-only change\n")
        code_only = imagebuild.build(ctx, tag, run=run, quiet=True)
        image = code_only.image
        results = {
            "base_mb": base.attrs["Size"] / 1e6,
            "service_mb": image.attrs["Size"] / 1e6,
            "added_mb": (image.attrs["Size"] - base.attrs["Size"]) / 1e6,
            "base_is_standin": images.status("python-slim") == "sustituto",
            "cold_build_s": cold.seconds,
            "code_only_rebuild_s": code_only.seconds,
            "rebuild_over_cold": code_only.seconds / cold.seconds,
            "steps": code_only.steps,
            "cached_steps_after_code_change": code_only.cached_steps,
        }
    show_and_save("Imagen del servicio (una sola ejecución)", "image_build", results)
    return results


if __name__ == "__main__":
    main()
