"""A Mosquitto with passwords, ACLs and optionally TLS, and a throwaway CA, for the security tests."""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gridedge.devtools.broker import free_port, mosquitto_binary, port_open


@contextmanager
def secured_mosquitto(workdir: Path, settings: str) -> Iterator[int]:
    """Mosquitto on a free loopback port with `settings` (password_file, acl_file, TLS lines...)."""
    port = free_port()
    binary = mosquitto_binary()
    assert binary is not None, "mosquitto is not installed"
    conf = workdir / "secure-mosquitto.conf"
    conf.write_text(
        "per_listener_settings false\n"
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous false\n"
        "set_tcp_nodelay true\n"
        "persistence false\n"
        "user root\n"
        f"log_dest file {workdir / 'secure-mosquitto.log'}\n"
        f"{settings}"
    )
    process = subprocess.Popen([binary, "-c", str(conf)])
    try:
        deadline = time.monotonic() + 10
        while not port_open(port):
            assert process.poll() is None, (workdir / "secure-mosquitto.log").read_text()
            assert time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.02)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate | None = None, key: ec.EllipticCurvePrivateKey | None = None) -> Path:
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return path


def make_pki(directory: Path, name: str = "test") -> Pki:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by that CA."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, server_key, client_key = _key(), _key(), _key()
    ca = _cert(f"{name} CA", ca_key, f"{name} CA", ca_key, ca=True)
    return Pki(
        ca=_write(directory / f"{name}-ca.pem", ca),
        server_cert=_write(
            directory / f"{name}-server.pem", _cert("127.0.0.1", server_key, f"{name} CA", ca_key, ca=False)
        ),
        server_key=_write(directory / f"{name}-server.key", key=server_key),
        client_cert=_write(
            directory / f"{name}-client.pem", _cert("gw-test-01", client_key, f"{name} CA", ca_key, ca=False)
        ),
        client_key=_write(directory / f"{name}-client.key", key=client_key),
    )
