"""The package's metadata: a licence as an SPDX expression with its file, no deprecated fields."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_licence_is_an_spdx_expression_with_its_file_and_no_deprecated_forms():
    """PEP 639: `license` is a string, `license-files` names LICENSE (present, Apache-2.0), no
    `License ::` classifier, and a setuptools that understands it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    meta = project["project"]
    assert meta["license"] == "Apache-2.0" and meta["license-files"] == ["LICENSE"]
    assert not any(c.startswith("License ::") for c in meta.get("classifiers", []))
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]
    assert any(r.startswith("setuptools>=77") for r in project["build-system"]["requires"])


def test_the_installed_metadata_carries_the_licence_expression():
    """The metadata pip installed says License-Expression: Apache-2.0 (Metadata 2.4), and the
    `o2o-dispatch` script is the one with the service's commands."""
    installed = metadata.metadata("o2o-dispatch")
    assert installed["License-Expression"] == "Apache-2.0"
    assert installed.get("License") is None
    scripts = {e.name: e.value for e in metadata.entry_points(group="console_scripts")}
    assert scripts["o2o-dispatch"] == "api.cli:app"
