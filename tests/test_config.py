import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadrank.cli import app
from leadrank.config import ConfigError, load_config
from leadrank.config_files import missing_files, require_files

runner = CliRunner()


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
    ("sources:\n  - {name: a, kind: exhibition, url: x}\n  - {name: a, kind: exhibition, url: y}\n", "duplicate source names: a"),
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


# -- errors never carry an expanded value (issue 17, item 2) ----------------------------------------

def test_a_secret_expanded_into_an_invalid_source_never_reaches_the_error(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAVE_API_KEY", "BSAk-very-secret-token-42")
    with pytest.raises(ConfigError) as caught:  # no name:, api_key last: pydantic quoted the whole mapping
        load_config(write(tmp_path, "sources:\n  - {kind: websearch, engine: brave, endpoint: 'https://s.example',"
                                    " queries: [q], api_key: '${BRAVE_API_KEY}'}\n"))
    assert "BSAk-very-secret-token-42" not in str(caught.value)
    assert "sources[0].name: Field required" in str(caught.value)


def test_an_expanded_value_quoted_by_a_validator_is_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_NAME", "p@ssw0rd-in-a-name")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "sources:\n  - {name: '${SOURCE_NAME}', kind: exhibition, url: x}\n"))
    assert "p@ssw0rd-in-a-name" not in str(caught.value) and "'${SOURCE_NAME}' must be letters" in str(caught.value)


# -- YAML alias bomb (issue 17, item 17) -------------------------------------------------------------

def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="expands to more than"):
        load_config(write(tmp_path, "anchors:\n" + "\n".join(f"  {line}" for line in levels) + "\nscoring:\n  model_features: *a8\n"))
    assert time.perf_counter() - started < 5


# -- every key checked, with its path and a suggestion (issue 18) ------------------------------------

SEARCH = "{name: s, kind: websearch, endpoint: 'https://s.example/search', queries: ['{product} 厂家']"


@pytest.mark.parametrize("text, message", [
    ("scoring: {fit_wieght: 0.7}\n", r"scoring.fit_wieght: unknown key \(did you mean `fit_weight`\?\)"),
    ("resolution: {match_treshold: 5}\n", r"resolution.match_treshold: unknown key \(did you mean `match_threshold`"),
    ("resolution: {weights: {uscc_sam: 10}}\n", r"resolution.weights: .*'uscc_sam' \(did you mean `uscc_same`"),
    ("scoring: {ratio_weights: {roe: 1}}\n", r"scoring.ratio_weights: unknown ratio in ratio_weights 'roe'"),
    ("scoring: {ratio_weights: {revenue_growth: 1}}\n", r"unknown ratio in ratio_weights 'revenue_growth'"),
    ("scoring: {segment_weights: {goverment: 1}}\n", r"did you mean `government`"),
    ("scoring: {tiers: {A: 0.1, E: 0.9}}\n", r"scoring.tiers: unknown tier"),
    ("scoring: {segment_rules: [{segment: x, patern: y}]}\n", r"scoring.segment_rules\[0\].patern: unknown key \(did you mean `pattern`"),
    ("sources:\n  - {name: e, kind: exhibition, url: x, items: div, fields: {company_name: h3},"
     " detail: {link: a.more@href}}\n", r"sources\[0\] \(e\).detail.link: unknown key \(did you mean `link_field`\?\)"),
    ("sources:\n  - {name: e, kind: exhibition, url: x, items: div, fields: {company_name: h3},"
     " detail: {fields: {phone: .tel}}}\n", r"link_field 'detail_url' is not a field of the list page"),
    ("sources:\n  - {name: e, kind: exhibition, url: x, items: div, fields: {company_name: h3},"
     " allow_private_network: true}\n", r"sources\[0\] \(e\).allow_private_network: unknown key: it belongs under the source's `fetch:`"),
    ("sources:\n  - {name: e, kind: association, url: x, items: div, columns: {company_name: 名称}}\n",
     r"`items` is a setting of format html, and this source's format is table \(the default\)"),
    ("sources:\n  - {name: e, kind: exhibition, url: x, items: div, pagination: {nxt: a.next}}\n",
     r"sources\[0\] \(e\).pagination.nxt: unknown key \(did you mean `next`\?\)"),
    ("sources:\n  - {name: e, kind: exhibition, url: x, items: div, pagination: {next: a, param: page}}\n",
     r"pagination needs exactly one of"),
    ("sources:\n  - {name: e, kind: exhibition, url: x, items: div, set: {contry: CN}}\n",
     r"`set:` key 'contry' is not a record field \(did you mean `country`\?\)"),
    ("sources:\n  - {name: e, kind: exhibition, url: x, items: div, fields: {company_name: {lable: 名称}}}\n",
     r"sources\[0\] \(e\).fields.company_name.lable: unknown key \(did you mean `label`\?\)"),
    ("sources:\n  - {name: e, kind: exhibition, url: x, items: div, fields: {company_name: {css: h3, regex: '(a)', group: 2}}}\n",
     r"the pattern has no group 2 \(it has 1\)"),
    ("sources:\n  - {name: e, kind: exhibition, url: x, items: div, fetch: {rate_limt: 1}}\n",
     r"sources\[0\] \(e\).fetch.rate_limt: unknown key \(did you mean `rate_limit`\?\)"),
    ("sources:\n  - {name: e, kind: exhibition, url: x, items: div, fetch: {allow_private_network: [intranet]}}\n",
     r"sources\[0\] \(e\).fetch.allow_private_network: .*not an IP address"),
    ("sources:\n  - {name: e, kind: brochure, url: x}\n", r"sources\[0\] \(e\): `kind` must be one of"),
    ("sources:\n  - " + SEARCH + "}\n", r"uses \{product\}, which `vars` does not define"),
    ("sources:\n  - " + SEARCH + ", vars: {product: [a]}, enrich: {max_site: 3}}\n",
     r"sources\[0\] \(s\).enrich.max_site: unknown key \(did you mean `max_sites`\?\)"),
    ("sources:\n  - " + SEARCH + ", vars: {product: [a]}, engine: brave}\n", r"the brave engine needs api_key"),
    ("financials:\n  - {name: f, path: f.csv, columns: {stok_code: code}}\n", r"did you mean `stock_code`"),
    ("outcomes:\n  - {name: o, path: o.csv, colums: {outcome: 结果}}\n", r"outcomes\[0\].colums: unknown key \(did you mean `columns`"),
    ("fetch: {allow_private_networks: true}\n", r"did you mean `allow_private_network`"),
])
def test_every_unknown_or_misplaced_key_fails_at_load_with_its_path(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_field_specs_take_a_line_a_regex_group_or_a_split_piece(tmp_path):
    cfg = load_config(write(tmp_path, """
sources:
  - name: e
    kind: exhibition
    url: x
    items: div
    fields:
      company_name: h3
      address: {css: p.addr, line: 0}
      country: {css: p.addr, line: -1}
      postcode: {css: p.addr, regex: '(?P<code>\\d{5})', group: code}
      hall: {label: 展位, split: '-', index: 0}
      detail_url: a.more@href
    detail: {fields: {phone: {label: [电话, Tel]}}}
"""))
    fields = cfg.source("e").options()["fields"]
    assert fields["country"] == {"css": "p.addr", "line": -1} and fields["company_name"] == "h3"
    assert fields["hall"] == {"label": "展位", "split": "-", "index": 0}
    assert cfg.source("e").options()["detail"] == {"fields": {"phone": {"label": ["电话", "Tel"]}}}


def test_weights_given_are_merged_over_the_defaults(tmp_path):
    cfg = load_config(write(tmp_path, "resolution: {weights: {phone_same: 3.5}}\nscoring: {ratio_weights: {roa: 2}}\n"))
    assert cfg.resolution.weights["phone_same"] == 3.5 and cfg.resolution.weights["uscc_same"] == 14.0
    assert cfg.scoring.ratio_weights["roa"] == 2 and cfg.scoring.ratio_weights["inventory_days"] == 0.5


# -- files named in the config (issue 18) ------------------------------------------------------------

def test_missing_files_are_listed_and_refused(tmp_path):
    (tmp_path / "here.csv").write_text("a\n1\n", encoding="utf-8")
    path = write(tmp_path, """
fetch: {allow_local_files: true}
sources:
  - {name: local, kind: association, url: "${CONFIG_DIR}/gone.html", columns: {company_name: 名称}}
  - {name: web, kind: association, url: "https://assoc.example.org/m.html", columns: {company_name: 名称}}
financials:
  - {name: ok, path: here.csv}
  - {name: typo, path: statments.csv}
outcomes:
  - {name: crm, path: crm/none.csv}
""")
    cfg = load_config(path)  # the structure is fine: the files are checked on their own
    problems = missing_files(cfg)
    assert [p.split(":")[0] + ":" + p.split(":")[1] for p in problems] == ["financials: typo", "outcomes: crm", "sources: local"]
    with pytest.raises(ConfigError, match="statments.csv"):
        require_files(cfg)
    # A night refuses missing data files but leaves a missing source file to fail that source alone.
    assert [p.split(":")[0] for p in missing_files(cfg, sources=False)] == ["financials", "outcomes"]


def test_leadrank_check_says_ok_or_lists_every_problem_and_run_checks_first(tmp_path, demo_config):
    ok = runner.invoke(app, ["check", "--config", str(demo_config)])
    assert ok.exit_code == 0 and "OK" in ok.output and "demo-expo" in ok.output
    bad = write(tmp_path, "scoring: {fit_wieght: 0.7}\nfinancials:\n  - {name: f, path: nope.csv}\n")
    result = runner.invoke(app, ["check", "-c", str(bad)])
    assert result.exit_code == 1 and "fit_wieght" in result.output and "Traceback" not in result.output
    missing = write(tmp_path, "financials:\n  - {name: f, path: nope.csv}\n")
    result = runner.invoke(app, ["check", "-c", str(missing)])
    assert result.exit_code == 1 and "nope.csv does not exist" in " ".join(result.output.split())
    result = runner.invoke(app, ["run", "-c", str(missing), "-w", f"sqlite:///{tmp_path / 'w.db'}"])
    assert result.exit_code == 1 and "nope.csv" in " ".join(result.output.split())
    assert not (tmp_path / "w.db").exists()  # refused before anything started


def test_the_bundled_configs_load(demo_config, monkeypatch):
    monkeypatch.setenv("LEADRANK_REALDATA", "/nonexistent")  # structure only; files are checked by `check`
    assert len(load_config(Path(__file__).parents[1] / "examples" / "realdata.yaml").sources) == 14
    assert require_files(load_config(demo_config)) is None


def test_a_field_spec_mapping_names_exactly_one_element(tmp_path):
    for spec in ("{css: h3, label: 名称}", "{line: -1}"):
        with pytest.raises(ConfigError, match="exactly one of `css`"):
            load_config(write(tmp_path, f"sources:\n  - {{name: e, kind: exhibition, url: x, items: div, "
                                        f"fields: {{company_name: {spec}}}}}\n"))


def test_a_night_refuses_to_begin_on_a_missing_file(tmp_path):
    """The deployed flow does not go through `leadrank run`: its first step checks the files too."""
    from leadrank.pipeline import begin

    config = write(tmp_path, "outcomes:\n  - {name: crm, path: crm/won-lost.csv}\n")
    with pytest.raises(ConfigError, match="won-lost.csv is not a file"):
        begin(str(config), "r1", f"sqlite:///{tmp_path / 'w.db'}")
    assert not (tmp_path / "w.db").exists()
