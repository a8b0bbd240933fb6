"""Settings from a TOML file as well as the environment, and `o2o-dispatch config`."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from api.cli import app
from api.settings import Settings

FILE = """
database_url = "postgresql+psycopg://app:s3cret-pw@db.internal:5432/dispatch"
time_zone = "Asia/Shanghai"
max_time_limit_s = 4.0
[api_keys.os-very-secret-key]
role = "order_system"
"""


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    """A TOML settings file named by DISPATCH_CONFIG, and no DISPATCH_* variables besides."""
    for name in [n for n in __import__("os").environ if n.startswith("DISPATCH_")]:
        monkeypatch.delenv(name)
    path = tmp_path / "dispatch.toml"
    path.write_text(FILE)
    monkeypatch.setenv("DISPATCH_CONFIG", str(path))
    return path


def test_the_file_is_read_and_the_environment_wins_over_it(config_file, monkeypatch):
    """Values come from the file; a DISPATCH_* variable overrides the same setting."""
    cfg = Settings()
    assert cfg.time_zone == "Asia/Shanghai" and cfg.max_time_limit_s == 4.0
    assert cfg.api_keys["os-very-secret-key"].role == "order_system"
    monkeypatch.setenv("DISPATCH_MAX_TIME_LIMIT_S", "2.5")
    assert Settings().max_time_limit_s == 2.5


def test_a_misspelt_or_bad_setting_in_the_file_is_an_error_naming_it(config_file):
    """An unknown key, or a zone that does not exist, is refused with its name."""
    config_file.write_text('max_time_limt_s = 3\n' + FILE)
    with pytest.raises(ValidationError, match="max_time_limt_s"):
        Settings()
    config_file.write_text(FILE.replace("Asia/Shanghai", "Asia/Atlantis"))
    with pytest.raises(ValidationError, match="time_zone"):
        Settings()


def test_a_calibration_minimum_above_its_window_is_refused(monkeypatch):
    """Quotes would never be calibrated: the settings say so, naming both."""
    monkeypatch.setenv("DISPATCH_QUOTE_CALIBRATION_WINDOW", "10")
    monkeypatch.setenv("DISPATCH_QUOTE_CALIBRATION_MIN_SAMPLES", "20")
    with pytest.raises(ValidationError, match="quote_calibration_min_samples"):
        Settings()


def test_a_named_file_that_is_missing_is_an_error(config_file, monkeypatch):
    """DISPATCH_CONFIG naming no file fails loudly rather than running on defaults."""
    monkeypatch.setenv("DISPATCH_CONFIG", str(config_file) + ".missing")
    with pytest.raises(FileNotFoundError, match="DISPATCH_CONFIG"):
        Settings()


def test_config_prints_the_effective_settings_with_secrets_masked_and_their_sources(config_file, monkeypatch):
    """`o2o-dispatch config --json`: the file's values, the password and keys masked, where each came from."""
    monkeypatch.setenv("DISPATCH_LOG_FORMAT", "json")
    result = CliRunner().invoke(app, ["config", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert "s3cret-pw" not in result.stdout and "os-very-secret-key" not in result.stdout
    assert out["settings"]["database_url"] == "postgresql+psycopg://app:***@db.internal:5432/dispatch"
    assert list(out["settings"]["api_keys"].values()) == [{"role": "order_system", "rider_id": None}]
    assert out["sources"]["time_zone"] == "file" and out["sources"]["log_format"] == "env"
    assert out["sources"]["solver_workers"] == "default" and out["file"] == str(config_file)
    table = CliRunner().invoke(app, ["config"])
    assert table.exit_code == 0 and "DISPATCH_TIME_ZONE" in table.stdout and "s3cret-pw" not in table.stdout


def test_the_console_script_has_the_core_commands_and_the_services_without_changing_the_cores():
    """`o2o-dispatch` = the core's commands + serve, config and worker; `python -m dispatch.cli` keeps its own."""
    from dispatch.cli import app as core_app

    names = lambda a: {c.name or c.callback.__name__.replace("_", "-") for c in a.registered_commands}  # noqa: E731
    assert names(app) == names(core_app) | {"serve", "config", "worker"}
    assert not names(core_app) & {"serve", "config", "worker"}
    assert "serve" in CliRunner().invoke(app, ["--help"]).stdout


def test_serve_makes_a_development_key_only_when_no_keys_are_set_anywhere(config_file, monkeypatch, tmp_path):
    """Keys in the settings file are used as they are; with none anywhere a development key is made."""
    import api.__main__ as entry

    started = []
    monkeypatch.setattr(entry.uvicorn, "run", lambda *a, **k: started.append(k))
    monkeypatch.setattr(entry, "DEV_KEY_FILE", tmp_path / "dev-key")
    assert CliRunner().invoke(app, ["serve", "--port", "8999"]).exit_code == 0
    assert "DISPATCH_API_KEYS" not in __import__("os").environ and not (tmp_path / "dev-key").exists()
    assert started[0]["access_log"] is False
    config_file.write_text("time_zone = 'UTC'\n")
    monkeypatch.setenv("DISPATCH_API_KEYS", "{}")  # restored (absent) after the test, whatever serve sets
    assert CliRunner().invoke(app, ["serve", "--port", "8999"]).exit_code == 0
    assert (tmp_path / "dev-key").exists() and "admin" in __import__("os").environ["DISPATCH_API_KEYS"]
