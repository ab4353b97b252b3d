from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gridedge.cloud_bridge.outbox import Bound
from gridedge.cloud_bridge.settings import TlsSettings, UplinkSettings
from gridedge.edge.command import gateway_key
from tests.cloud_bridge.secure import make_pki


def test_paths_are_relative_to_the_config_file_and_the_bound_is_typed(tmp_path: Path) -> None:
    settings = UplinkSettings.model_validate(
        {
            "broker": "mqtts://gw-1:pw@broker.example:8883",
            "protocol": "5",
            "tls": {"ca_file": "ca.pem"},
            "outbox": {"max_messages": 10, "max_bytes": 1000},
            "command_key_file": "keys/gw-1.key",
        }
    ).resolved(tmp_path)
    assert settings.tls is not None
    assert settings.tls.ca_file == tmp_path / "ca.pem"
    assert settings.outbox.bound() == Bound(max_messages=10, max_bytes=1000)
    key = gateway_key(b"secret", "gw-1")
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "gw-1.key").write_text(key.hex() + "\n")
    assert settings.command_key() == key
    assert UplinkSettings().command_key() is None


@pytest.mark.parametrize(
    "wrong",
    [{"protocol": "4"}, {"tls": {"cert_file": "c.pem"}}, {"outbox": {"max_messages": 0}}, {"heartbeat_s": 0}, {"x": 1}],
)
def test_mistakes_are_refused(wrong: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        UplinkSettings.model_validate(wrong)


def test_tls_is_on_with_tls_settings_or_an_mqtts_url_and_always_verifies(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    assert UplinkSettings().tls_context() is None
    assert UplinkSettings.model_validate({"broker": "mqtts://b:8883"}).tls_context() is not None
    tls = TlsSettings(ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key).context()
    assert tls.check_hostname
