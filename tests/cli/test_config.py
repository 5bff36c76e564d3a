"""Site configuration: config.toml under MFG_HOME, each key overridable from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfg.config import ENV_KEYS, load_settings, write_default_config
from mfg.errors import ConfigError


def test_defaults_file_and_environment(tmp_path: Path):
    s = load_settings(tmp_path, env={})
    assert (s.facility_id, s.site_timezone) == ("A9990", "UTC")  # a validation FIN
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'celltrail.db'}"
    assert set(s.sources.values()) == {"default"}
    path = write_default_config(s)
    assert write_default_config(s) == path  # never overwritten
    text = path.read_text()
    path.write_text(text.replace('facility_id = "A9990"', 'facility_id = "A1234"'))
    s = load_settings(tmp_path, env={"MFG_SITE_TZ": "Europe/Berlin"})
    assert (s.facility_id, s.sources["facility_id"]) == ("A1234", str(path))
    assert (s.site_timezone, s.sources["site_timezone"]) == ("Europe/Berlin", "$MFG_SITE_TZ")
    assert load_settings(tmp_path, env={"MFG_FACILITY_ID": "B2222"}).facility_id == "B2222"


def test_secrets_and_passwords_are_masked(tmp_path: Path):
    s = load_settings(
        tmp_path,
        env={"MFG_LABEL_KEY": "k3y", "MFG_DATABASE_URL": "postgresql+psycopg://u:pw@h/db"},
    )
    shown = s.shown()
    assert shown["label_key"] == "*** (set)"
    assert shown["database_url"] == "postgresql+psycopg://u:***@h/db"
    assert set(ENV_KEYS) <= set(shown)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('facility_id = "O0001"\n', "facility_id 'O0001' must be an ISBT 128 facility id"),
        ('site_timezone = "Mars/Olympus"\n', "site_timezone 'Mars/Olympus' is not an IANA"),
        ('printer = "lp"\n', "unknown key(s) printer"),
        ("facility_id = 12345\n", "key 'facility_id' must be a string"),
        ("facility_id = \n", "not valid TOML"),
    ],
)
def test_bad_config_files_name_the_file_and_key(tmp_path: Path, content: str, message: str):
    (tmp_path / "config.toml").write_text(content)
    with pytest.raises(ConfigError) as e:
        load_settings(tmp_path, env={})
    assert e.value.rule == "bad-configuration"
    assert str(e.value).startswith(f"{tmp_path / 'config.toml'}: ")
    assert message in str(e.value)


def test_bad_environment_value(tmp_path: Path):
    with pytest.raises(ConfigError) as e:
        load_settings(tmp_path, env={"MFG_SITE_TZ": "Nowhere"})
    assert "site_timezone 'Nowhere'" in str(e.value)
