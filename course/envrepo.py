"""The environment repository of 15.6: a git working copy of the repository the GitOps
reconciler watches, with the field's layout (one base, one overlay folder per
environment) and the operations people do on it (commit and push, branch and merge to
promote, revert to roll back).
"""
from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path

from ruamel.yaml import YAML

from course import REPO_ROOT
from course.gitserver import git

APP_DIR = "apps/catalogo"
TEMPLATE = REPO_ROOT / "deploy" / "gitops"
BASE = REPO_ROOT / "deploy" / "k8s" / "base"


class EnvRepo:
    def __init__(self, path: Path, url: str, branch: str = "main"):
        self.path, self.url, self.branch = Path(path), url, branch
        if not (self.path / ".git").exists():
            git("clone", "--quiet", url, str(self.path))
            git("checkout", "--quiet", "-B", branch, cwd=self.path)

    def overlay(self, environment: str) -> str:
        return f"{APP_DIR}/overlays/{environment}"

    def write(self, relative: str, text: str) -> Path:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return target

    def read(self, relative: str) -> str:
        return (self.path / relative).read_text()

    def edit_yaml(self, relative: str, change: Callable[[dict], None]) -> None:
        """Change a YAML file in place, keeping its comments and order (what a person or a
        bot such as Argo CD Image Updater does before committing)."""
        handler = YAML()
        handler.preserve_quotes = True
        handler.indent(mapping=2, sequence=4, offset=2)  # the layout of the course's files
        data = handler.load(self.read(relative))
        change(data)
        out = io.StringIO()
        handler.dump(data, out)
        self.write(relative, out.getvalue())

    def set_image(self, environment: str, tag: str, image: str = "catalogo") -> None:
        def change(data):
            for entry in data["images"]:
                if entry["name"] == image:
                    entry["newTag"] = tag
        self.edit_yaml(f"{self.overlay(environment)}/kustomization.yaml", change)

    def set_replicas(self, environment: str, count: int, name: str = "catalogo") -> None:
        def change(data):
            for entry in data["replicas"]:
                if entry["name"] == name:
                    entry["count"] = count
        self.edit_yaml(f"{self.overlay(environment)}/kustomization.yaml", change)

    def remove(self, relative: str) -> None:
        git("rm", "-r", "--quiet", relative, cwd=self.path)

    def commit(self, message: str, *, push: bool = True) -> str:
        """Commit everything that changed and push it; returns the new commit."""
        git("add", "--all", cwd=self.path)
        git("commit", "--quiet", "--allow-empty", "-m", message, cwd=self.path)
        if push:
            self.push()
        return self.head()

    def push(self, *, force: bool = False) -> None:
        git("push", "--quiet", *(["--force"] if force else []), "origin",
            f"HEAD:refs/heads/{self.branch}", cwd=self.path)

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.path).strip()

    def revert(self, commit: str) -> str:
        """Undo a commit with a new one (history is kept) and push it."""
        git("revert", "--no-edit", commit, cwd=self.path)
        self.push()
        return self.head()

    def promote(self, branch: str, message: str) -> str:
        """Merge a promotion branch into the main branch with a merge commit, and push."""
        git("checkout", "--quiet", self.branch, cwd=self.path)
        git("merge", "--no-ff", "--quiet", "-m", message, branch, cwd=self.path)
        self.push()
        return self.head()

    def log(self, limit: int = 10) -> list[str]:
        return git("log", f"-{limit}", "--format=%h %s", cwd=self.path).splitlines()


def tree(root: Path, skip: tuple[str, ...] = (".git", "templates")) -> str:
    """The files under ``root`` drawn as an indented tree (folders end in /)."""
    lines = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part in skip for part in relative.parts[:-1]) or relative.name == ".git":
            continue
        lines.append("    " * (len(relative.parts) - 1) + relative.name + ("/" if path.is_dir() else ""))
    return "\n".join(lines)


def scaffold(repo: EnvRepo) -> list[str]:
    """Write the course's layout into ``repo``: the 15.4 base and one overlay per
    environment. Returns the files written (relative paths)."""
    shutil.copytree(BASE, repo.path / APP_DIR / "base", dirs_exist_ok=True)
    shutil.copytree(TEMPLATE / "overlays", repo.path / APP_DIR / "overlays", dirs_exist_ok=True)
    return sorted(str(p.relative_to(repo.path)) for p in (repo.path / APP_DIR).rglob("*")
                  if p.is_file())
