"""Configuration: the minimal file works, anything wrong is refused naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rgw.settings.config import ConfigError, load_config, parse_config

MINIMAL = """
[gateway]
listen = "127.0.0.1:6333"
data_dir = "var/gateway"

[[regions]]
name = "primary"
url = "http://127.0.0.1:6401"

[[regions]]
name = "secondary"
url = "http://127.0.0.1:6402"
"""


def test_minimal_file_loads_with_safe_defaults(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(MINIMAL)
    config = load_config(path)
    assert [r.name for r in config.regions] == ["primary", "secondary"]
    assert (config.host, config.port) == ("127.0.0.1", 6333)
    # A dead region must be noticed within about a second by default.
    worst_case = config.health.interval_s * config.health.unhealthy_threshold + config.health.timeout_s
    assert worst_case <= 1.1
    assert config.routing.hedging
    assert config.policies.for_collection("anything").write_ack == "journal"


def test_policies_are_accepted_and_validated() -> None:
    import tomllib

    raw = tomllib.loads(MINIMAL + """
[policies.default]
tier = "standard"
chain = ["primary", "secondary", "cache", "lexical"]

[policies.collections.docs]
tier = "critical"
min_coverage = 0.9
""")
    config = parse_config(raw)
    docs = config.policies.for_collection("docs")
    assert docs.tier == "critical" and docs.min_coverage == 0.9
    assert docs.chain == ("primary", "secondary", "cache", "lexical")  # inherited from default


@pytest.mark.parametrize(("extra", "names"), [
    ('[routing]\nper_try_timeout = 1.0\n', "routing.per_try_timeout"),
    ('[health]\ninterval_s = "fast"\n', "health.interval_s"),
    ('[health]\ninterval_s = 0\n', "health.interval_s"),
    ('[policies.default]\ntier = "gold"\n', "policies.default.tier"),
    ('[policies.collections.docs]\nchain = ["primary", "tertiary"]\n', "policies.collections.docs.chain"),
    ('[policies.default]\nmin_coverage = 1.5\n', "policies.default.min_coverage"),
    ('[bogus]\nx = 1\n', "bogus"),
])
def test_bad_values_name_the_key(extra: str, names: str) -> None:
    import tomllib

    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        parse_config(tomllib.loads(MINIMAL + extra))


@pytest.mark.parametrize(("text", "names"), [
    ('[gateway]\nlisten = "nonsense"\n[[regions]]\nname = "a"\nurl = "http://127.0.0.1:1"\n', "gateway.listen"),
    ('[gateway]\n', "regions"),
    ('[[regions]]\nname = "a"\nurl = "127.0.0.1:1"\n', r"regions\[0\]\.url"),
    ('[[regions]]\nname = "a"\nurl = "http://127.0.0.1:1"\n[[regions]]\nname = "a"\nurl = "http://127.0.0.1:2"\n',
     r"regions\[1\]\.name"),
    ('[[regions]]\nname = "lexical"\nurl = "http://127.0.0.1:1"\n', r"regions\[0\]\.name"),
    ('[[regions]]\nurl = "http://127.0.0.1:1"\n', r"regions\[0\]\.name"),
])
def test_bad_structure_names_the_key(text: str, names: str) -> None:
    import tomllib

    with pytest.raises(ConfigError, match=names):
        parse_config(tomllib.loads(text))


def test_serve_refuses_a_bad_file_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(MINIMAL + '[outlier]\nconsecutive_errors = "three"\n')
    result = subprocess.run([sys.executable, "-m", "rgw.cli", "serve", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "outlier.consecutive_errors" in result.stderr


def test_serve_refuses_a_file_that_is_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[gateway\nlisten=")
    result = subprocess.run([sys.executable, "-m", "rgw.cli", "serve", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "not valid TOML" in result.stderr
