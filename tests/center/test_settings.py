from __future__ import annotations

from pathlib import Path

import pytest

from gridedge.center.settings import CenterConfig, load_center_config
from gridedge.edge.errors import ConfigError


def test_defaults_serve_the_whole_city_from_a_local_sqlite_file() -> None:
    config = CenterConfig()
    assert config.broker.url == "mqtt://127.0.0.1:1883"
    assert config.jurisdiction == ()
    assert config.database == "sqlite:///var/center.db"
    assert (config.http.host, config.http.port) == ("127.0.0.1", 8080)


def test_a_street_centre_is_read_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "center.yaml"
    path.write_text(
        "broker: mqtt://centre:secret@broker.example:1884\n"
        "jurisdiction: [D01, S01]\n"
        "database: postgresql+psycopg://centre@db/centre\n"
        "http: {host: 0.0.0.0, port: 9000}\n"
        "client_id: center-s01\n"
    )
    config = load_center_config(path)
    assert (config.broker.host, config.broker.port, config.broker.username) == ("broker.example", 1884, "centre")
    assert config.jurisdiction == ("D01", "S01")
    assert config.http.port == 9000
    assert config.client_id == "center-s01"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("jurisdiction: [D01, S01, C01, G01, X]\n", "1: jurisdiction:"),
        ("jurisdiction: ['D 01']\n", "1: jurisdiction.0:"),
        ("database: nonsense\n", "1: database:"),
        ("http:\n  prot: 80\n", "2: http.prot:"),
    ],
)
def test_a_mistake_names_the_line_and_field(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "center.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_center_config(path)
    assert f"{path}:{problem}" in str(err.value)
