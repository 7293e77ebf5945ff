"""A secured venue for tests: the shipped Mosquitto configuration with TLS, a
password file made by the real mosquitto_passwd and an ACL from render_acl,
on loopback ports; a throwaway CA signs the broker's certificate."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crowdpulse.broker import Mosquitto
from crowdpulse.childproc import free_ports
from crowdpulse.deploy import (
    ACL_FILE,
    CERT_FILE,
    KEY_FILE,
    LAN_ADDRESS,
    PASSWORD_FILE,
    render_acl,
    render_conf,
)

PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(folder: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, broker certificate for localhost/127.0.0.1, its key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test venue CA"))
        .issuer_name(_name("test venue CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "venue-ca.crt", folder / "broker.crt", folder / "broker.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def add_password(passwd: Path, user: str, password: str) -> None:
    create = [] if passwd.exists() else ["-c"]
    subprocess.run(
        [PASSWD, *create, "-b", str(passwd), user, password],
        check=True,
        capture_output=True,
        timeout=30,
    )


@dataclass
class SecuredVenue:
    folder: Path
    venue: str
    relays: list[str]
    passwords: dict[str, str]
    acl_venue: str | None = None  # render the ACL for another venue name (a mistake to catch)
    broker: Mosquitto = field(init=False)
    ca: Path = field(init=False)
    lan_port: int = field(init=False)
    tls_port: int = field(init=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ca, cert, key = make_pki(self.folder)
        passwd = self.folder / "passwd"
        for user, pw in self.passwords.items():
            add_password(passwd, user, pw)
        (self.folder / "acl").write_text(
            render_acl(
                self.acl_venue or self.venue,
                self.relays,
                "gateway",
                "console",
                ["dashboard"],
                "homeassistant",
            )
        )
        self.lan_port, self.tls_port = free_ports(2)
        conf = render_conf().replace(
            f"listener 1883 {LAN_ADDRESS}\n", f"listener {self.lan_port} 127.0.0.1\n"
        )
        conf = conf.replace("listener 8883\n", f"listener {self.tls_port} 127.0.0.1\n")
        for old, new in (
            (PASSWORD_FILE, passwd),
            (ACL_FILE, self.folder / "acl"),
            (CERT_FILE, cert),
            (KEY_FILE, key),
        ):
            conf = conf.replace(old, str(new))
        self.broker = Mosquitto(port=self.lan_port, config=conf, extra_ports=(self.tls_port,))

    def url(self, user: str, tls: bool = True, password: str | None = None) -> str:
        pw = self.passwords[user] if password is None else password
        port = self.tls_port if tls else self.lan_port
        return f"{'mqtts' if tls else 'mqtt'}://{user}:{pw}@127.0.0.1:{port}"

    def __enter__(self) -> SecuredVenue:
        self.broker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.broker.close()
