"""JupyterLab opens in Spanish and without the news pop-up: jupyter/overrides.json is
valid against JupyterLab's own setting schemas, and the Spanish language pack it names
is installed (pinned in pyproject, environment.yml and Binder's copy)."""
import json
import sys
from importlib.metadata import entry_points
from pathlib import Path

import jsonschema

from course import REPO_ROOT

SCHEMAS = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"
OVERRIDES = json.loads((REPO_ROOT / "jupyter" / "overrides.json").read_text())


def test_overrides_are_valid_settings_of_the_installed_jupyterlab():
    for plugin, values in OVERRIDES.items():
        package, name = plugin.rsplit(":", 1)
        schema = json.loads((SCHEMAS / package / f"{name}.json").read_text())
        jsonschema.validate(values, schema)
        assert set(values) <= set(schema["properties"]), plugin


def test_spanish_and_no_news():
    assert OVERRIDES["@jupyterlab/translation-extension:plugin"]["locale"] == "es_ES"
    news = OVERRIDES["@jupyterlab/apputils-extension:notification"]
    assert news["fetchNews"] == "false" and news["checkForUpdates"] is False


def test_the_spanish_language_pack_is_installed():
    packs = {ep.name for ep in entry_points(group="jupyterlab.languagepack")}
    assert "es_ES" in packs, packs
