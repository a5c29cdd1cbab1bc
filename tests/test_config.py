from pathlib import Path

import pytest

from leadrank.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_env_placeholders_and_relative_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPO_URL", "https://expo.example.com/list")
    cfg = load_config(write(tmp_path, """
sources:
  - {name: expo, kind: exhibition, url: "${EXPO_URL}", items: div}
  - {name: assoc, kind: association, url: "${MISSING_BUT_DEFAULTED:-https://a.example.com}"}
financials:
  - {name: fin, path: fin/statements.csv}
"""))
    assert cfg.source("expo").options()["url"] == "https://expo.example.com/list"
    assert cfg.source("assoc").options()["url"] == "https://a.example.com"
    assert cfg.financials[0].path == (tmp_path / "fin" / "statements.csv").resolve()
    assert cfg.fingerprint() == load_config(tmp_path / "sources.yaml").fingerprint()


def test_missing_env_var_names_it(tmp_path):
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE"):
        load_config(write(tmp_path, "sources:\n  - {name: a, kind: websearch, api_key: '${NOT_SET_ANYWHERE}'}\n"))


@pytest.mark.parametrize("text, message", [
    ("sources:\n  - {name: a, kind: brochure}\n", "kind"),
    ("sources:\n  - {name: a, kind: exhibition}\n  - {name: a, kind: exhibition}\n", "duplicate source names: a"),
    ("sources:\n  - {name: 'bad name!', kind: exhibition}\n", "must be letters"),
    ("- just a list\n", "top level must be a mapping"),
    ("sources: [\n", "cannot read config"),
])
def test_invalid_configs_are_clear(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_unknown_source_lists_known(demo_config):
    with pytest.raises(ConfigError, match="demo-expo"):
        load_config(demo_config).source("nope")
