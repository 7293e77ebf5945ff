"""The venue broker as shipped (deploy/mosquitto/), proved against a real Mosquitto.

One Mosquitto runs the shipped crowdpulse.conf, with only its paths, ports and
addresses replaced, an ACL from `render_acl` and a password file made by the
real `mosquitto_passwd`; a throwaway CA signs its certificate.

Mosquitto drops an unauthorised publish silently (MQTT 3.1.1 has no way to say
no; it still acknowledges QoS 1).  So every rule is proved by delivery: after
the attempts, each acknowledged, a last "sentinel" message goes through the
same broker to the observer.  The broker handles messages in order, so when the
sentinel has arrived, everything the attempts could have delivered has
arrived too: no test waits for something not to happen.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from paho.mqtt.reasoncodes import ReasonCode

from crowdpulse.broker import BrokerError, Mosquitto
from crowdpulse.childproc import free_ports
from crowdpulse.deploy import (
    ACL_FILE,
    CERT_FILE,
    KEY_FILE,
    LAN_ADDRESS,
    PASSWORD_FILE,
    DeployError,
    acl_template,
    check_usernames,
    render_acl,
    render_conf,
)
from crowdpulse.mqtt import BrokerURL, make_client, topic

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "deploy" / "mosquitto"
TIMEOUT = 10.0  # only ever waited out when something is broken

VENUE = "club-x"
RELAYS = ["relay-1", "relay-2"]
GATEWAY, CONSOLE, READER = "gateway", "console", "dashboard"
HA = "homeassistant"
# "relay-3" is a band whose id looks like a relay's: only listed relays get relay rights.
BANDS = ["B0001", "B0002", "relay-3"]
USERS = [GATEWAY, CONSOLE, READER, *RELAYS, *BANDS]


# --- a throwaway PKI -----------------------------------------------------------------


@dataclass
class Pki:
    ca: Path  # the venue CA clients trust
    cert: Path  # the broker's certificate, signed by `ca`
    key: Path
    other_ca: Path  # a CA that did not sign it


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = _ca("crowdpulse test venue CA")
    _, other_cert = _ca("someone else's CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
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
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    out = Pki(
        ca=d / "venue-ca.crt",
        cert=d / "venue.crt",
        key=d / "venue.key",
        other_ca=d / "other-ca.crt",
    )
    out.ca.write_bytes(_pem(ca_cert))
    out.other_ca.write_bytes(_pem(other_cert))
    out.cert.write_bytes(_pem(cert))
    out.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    out.key.chmod(0o600)
    return out


# --- the venue broker ----------------------------------------------------------------


@dataclass
class Venue:
    broker: Mosquitto
    lan_port: int
    tls_port: int
    ca: Path
    passwords: dict[str, str]

    def url(self, user: str | None, tls: bool = False, password: str | None = None) -> BrokerURL:
        port = self.tls_port if tls else self.lan_port
        if user is None:
            return BrokerURL("127.0.0.1", port, tls=tls)
        return BrokerURL(
            "127.0.0.1",
            port,
            tls=tls,
            username=user,
            password=password if password is not None else self.passwords[user],
        )


def _substitute(text: str, changes: dict[str, str]) -> str:
    for old, new in changes.items():
        assert text.count(old) == 1, f"the shipped config no longer has exactly one {old!r}"
        text = text.replace(old, new)
    return text


def _make_password_file(path: Path, passwords: dict[str, str]) -> None:
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    if not Path(tool).exists():
        pytest.fail("mosquitto_passwd not found; install Mosquitto: apt-get install -y mosquitto")
    for i, (user, password) in enumerate(passwords.items()):
        create = ["-c"] if i == 0 else []
        subprocess.run(
            [tool, *create, "-b", str(path), user, password],
            check=True,
            capture_output=True,
            timeout=30,
        )


@pytest.fixture(scope="module")
def venue(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    d = tmp_path_factory.mktemp("venue-broker")
    passwords = {user: secrets.token_urlsafe(12) for user in USERS}
    _make_password_file(d / "passwd", passwords)
    (d / "acl").write_text(render_acl(VENUE, RELAYS, GATEWAY, CONSOLE, [READER], HA))
    lan_port, tls_port = free_ports(2)
    conf = _substitute(
        (SHIPPED / "crowdpulse.conf").read_text(),
        {
            f"listener 1883 {LAN_ADDRESS}\n": f"listener {lan_port} 127.0.0.1\n",
            "listener 8883\n": f"listener {tls_port} 127.0.0.1\n",
            PASSWORD_FILE: str(d / "passwd"),
            ACL_FILE: str(d / "acl"),
            CERT_FILE: str(pki.cert),
            KEY_FILE: str(pki.key),
        },
    )
    try:
        broker = Mosquitto(port=lan_port, config=conf, extra_ports=(tls_port,))
        broker.start()
    except BrokerError as exc:
        pytest.fail(str(exc))
    yield Venue(broker, lan_port, tls_port, pki.ca, passwords)
    broker.close()


# --- clients -------------------------------------------------------------------------


@dataclass
class Inbox:
    """What one subscriber received, in order."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append((msg.topic, bytes(msg.payload)))
            self.cond.notify_all()

    def wait_for(self, payload: bytes) -> bool:
        with self.cond:
            return self.cond.wait_for(
                lambda: any(p == payload for _, p in self.messages), timeout=TIMEOUT
            )

    def with_tag(self, tag: str) -> set[str]:
        """Topics (after the venue prefix) of the messages whose payload is `tag`."""
        prefix = topic(VENUE) + "/"
        with self.cond:
            return {t.removeprefix(prefix) for t, p in self.messages if p == tag.encode()}


@dataclass
class Clients:
    venue: Venue
    started: list[mqtt.Client] = field(default_factory=list)

    def _start(self, url: BrokerURL, ca: Path | None) -> tuple[mqtt.Client, ReasonCode]:
        client = make_client(url, ca_file=str(ca) if ca else None)
        answered = threading.Event()
        result: list[ReasonCode] = []

        def on_connect(
            c: mqtt.Client, u: object, flags: mqtt.ConnectFlags, rc: ReasonCode, props: object
        ) -> None:
            result.append(rc)
            answered.set()

        client.on_connect = on_connect
        client.connect(url.host, url.port)  # TLS handshake happens here, or raises
        self.started.append(client)
        client.loop_start()
        assert answered.wait(TIMEOUT), f"no CONNACK for {url}"
        return client, result[0]

    def connect(self, user: str, tls: bool = False) -> mqtt.Client:
        url = self.venue.url(user, tls=tls)
        client, rc = self._start(url, self.venue.ca if tls else None)
        assert not rc.is_failure, f"{url} refused: {rc}"
        return client

    def refusal(self, url: BrokerURL, ca: Path | None = None) -> ReasonCode:
        client, rc = self._start(url, ca)
        client.loop_stop()  # before paho retries
        return rc

    def subscribe(self, user: str, *filters: str) -> tuple[mqtt.Client, Inbox]:
        """`user` subscribed to `filters` (default: the whole venue) at QoS 1."""
        client = self.connect(user)
        inbox = Inbox()
        client.on_message = inbox.on_message
        acked = threading.Event()
        client.on_subscribe = lambda *a: acked.set()
        client.subscribe([(f, 1) for f in filters or (topic(VENUE, "#"),)])
        assert acked.wait(TIMEOUT), "no SUBACK"
        return client, inbox

    def close(self) -> None:
        for client in self.started:
            client.disconnect()
            client.loop_stop()


@pytest.fixture
def clients(venue: Venue) -> Iterator[Clients]:
    out = Clients(venue)
    yield out
    out.close()


def publish(client: mqtt.Client, sub_topic: str, payload: str, retain: bool = False) -> None:
    """Publish at QoS 1 and wait for the broker's PUBACK (sent for denied messages too).
    `sub_topic` is under the venue's prefix, unless it starts with the HA prefix."""
    full = sub_topic if sub_topic.startswith(HA + "/") else topic(VENUE, sub_topic)
    info = client.publish(full, payload, qos=1, retain=retain)
    info.wait_for_publish(TIMEOUT)
    assert info.is_published(), f"no PUBACK for {sub_topic}"


def settle(sender: mqtt.Client, inbox: Inbox, sub_topic: str) -> None:
    """Send a sentinel that `inbox` may read and wait for it: after that, every
    message published (and acknowledged) before it has been delivered, or never will be."""
    sentinel = f"sentinel-{secrets.token_hex(8)}"
    publish(sender, sub_topic, sentinel)
    assert inbox.wait_for(sentinel.encode()), "the sentinel never arrived"


# --- who may publish what ------------------------------------------------------------

ALL_TOPICS = [
    "band/B0001/report",
    "band/B0002/report",
    "band/relay-3/report",
    "band/relay-1/report",
    "band/gateway/report",
    "band/console/report",
    "band/dashboard/report",
    "relay/relay-1/batch",
    "relay/relay-1/status",
    "relay/relay-2/batch",
    "relay/relay-2/status",
    "relay/relay-3/batch",
    "relay/B0001/batch",
    "relay/B0001/status",
    "config",
    "cmd",
    "sentiment",
    "sentiment/floor",
    "selector/state",
    "selector/cmd",
    "gateway/status",
    "gateway/1/status",
    "gateway/accepted/1",
    "ha/venue",
    "ha/zone/floor",
    f"{HA}/sensor/crowdpulse_club-x_floor/config",
]

MAY_PUBLISH = {
    "B0001": {"band/B0001/report"},
    "relay-3": {"band/relay-3/report"},  # a band, whatever its id looks like
    "relay-1": {"relay/relay-1/batch", "relay/relay-1/status"},
    "gateway": {
        "config",
        "cmd",
        "sentiment",
        "sentiment/floor",
        "selector/state",
        "selector/cmd",
        "gateway/status",
        "gateway/1/status",
        "gateway/accepted/1",
        "ha/venue",
        "ha/zone/floor",
        f"{HA}/sensor/crowdpulse_club-x_floor/config",
        # the band pattern applies to every user (see crowdpulse/deploy.py)
        "band/gateway/report",
    },
    "console": {"selector/cmd"},
    READER: set(),
}


@pytest.mark.parametrize("user", list(MAY_PUBLISH))
def test_each_credential_publishes_only_its_own_topics(clients: Clients, user: str) -> None:
    # the gateway reads the whole venue; the reader, Home Assistant's topics
    observer, inbox = clients.subscribe(GATEWAY)
    _, ha_inbox = clients.subscribe(READER, f"{HA}/#")
    publisher = clients.connect(user)
    tag = f"{user}-{secrets.token_hex(6)}"
    for sub_topic in ALL_TOPICS:
        publish(publisher, sub_topic, tag)
    settle(observer, inbox, "gateway/probe")
    settle(observer, ha_inbox, f"{HA}/sensor/probe/config")
    assert inbox.with_tag(tag) | ha_inbox.with_tag(tag) == MAY_PUBLISH[user]


# --- who may read what ---------------------------------------------------------------

# The rightful publisher of each topic.
OWNER = {
    "band/B0002/report": "B0002",
    "relay/relay-1/status": "relay-1",
    "relay/relay-2/batch": "relay-2",
    "relay/relay-2/status": "relay-2",
    "selector/cmd": CONSOLE,
    "cmd": GATEWAY,
    "sentiment": GATEWAY,
    "sentiment/floor": GATEWAY,
    "selector/state": GATEWAY,
    "gateway/status": GATEWAY,
    "gateway/1/status": GATEWAY,
    "gateway/accepted/1": GATEWAY,  # what gateway workers exchange: reports, in effect
    "ha/venue": GATEWAY,  # Home Assistant's once-a-second state
}
SEEN_BY_CONSOLE = {
    "config",
    "cmd",
    "sentiment",
    "sentiment/floor",
    "selector/state",
    "gateway/status",
    "gateway/1/status",
    "relay/relay-1/status",
    "relay/relay-2/status",
    "ha/venue",
}

MAY_READ = {
    "B0001": {"config", "cmd"},
    "relay-1": {"config", "cmd", "relay/relay-1/status"},  # its own status, not relay-2's
    CONSOLE: SEEN_BY_CONSOLE,
    READER: SEEN_BY_CONSOLE,
    GATEWAY: set(OWNER) | {"config"},
}


@pytest.mark.parametrize("reader", list(MAY_READ))
def test_each_credential_reads_only_what_it_may(clients: Clients, reader: str) -> None:
    tag = f"read-{reader}-{secrets.token_hex(6)}"
    gateway = clients.connect(GATEWAY)
    # the config is retained, as in the venue: a reader gets it when it subscribes
    publish(gateway, "config", tag, retain=True)
    try:
        _, inbox = clients.subscribe(reader)  # to the whole venue: '#'
        publishers = {user: clients.connect(user) for user in set(OWNER.values()) - {GATEWAY}}
        publishers[GATEWAY] = gateway
        for sub_topic, owner in OWNER.items():
            publish(publishers[owner], sub_topic, tag)
        settle(gateway, inbox, "cmd")  # everyone may read cmd
        assert inbox.with_tag(tag) == MAY_READ[reader]
    finally:
        publish(gateway, "config", "", retain=True)  # clear the retained config


# --- authentication ------------------------------------------------------------------


def test_gateway_workers_share_reports_and_bands_still_read_nothing(clients: Clients) -> None:
    # Several gateway workers split ingestion with a shared subscription; the
    # ACL still decides what any subscription delivers.  (A credential that
    # joined the workers' own group would take a share and lose it: the
    # group name is a secret, see docs/deploy.md.)
    reports = topic(VENUE, "band", "+", "report")
    _, worker = clients.subscribe(GATEWAY, f"$share/workers-{secrets.token_hex(4)}/{reports}")
    _, band = clients.subscribe("B0001", f"$share/guess/{reports}", reports, topic(VENUE, "cmd"))
    b2 = clients.connect("B0002")
    tags = [f"share-{i}-{secrets.token_hex(6)}" for i in range(3)]
    for tag in tags:
        publish(b2, "band/B0002/report", tag)
    gateway = clients.connect(GATEWAY)
    settle(gateway, band, "cmd")
    assert not any(band.with_tag(tag) for tag in tags)
    assert all(worker.wait_for(tag.encode()) for tag in tags)


def test_the_right_password_connects(clients: Clients) -> None:
    for user in USERS:
        clients.connect(user)


@pytest.mark.parametrize("tls", [False, True], ids=["mqtt", "mqtts"])
def test_anonymous_and_wrong_passwords_are_refused(clients: Clients, tls: bool) -> None:
    venue = clients.venue
    ca = venue.ca if tls else None
    anonymous = clients.refusal(venue.url(None, tls=tls), ca)
    assert anonymous.is_failure and anonymous.getName() == "Not authorized", anonymous
    wrong = clients.refusal(venue.url(GATEWAY, tls=tls, password="not-the-password"), ca)
    assert wrong.is_failure, wrong
    # A relay id from the ACL whose password is not the relay's gets nothing either.
    stranger = clients.refusal(
        venue.url("relay-1", tls=tls, password=venue.passwords["relay-2"]), ca
    )
    assert stranger.is_failure, stranger


# --- TLS -----------------------------------------------------------------------------


def test_mqtts_with_the_venue_ca_carries_the_same_rules(clients: Clients) -> None:
    _, inbox = clients.subscribe(GATEWAY)
    band = clients.connect("B0001", tls=True)
    tag = f"tls-{secrets.token_hex(6)}"
    for sub_topic in ("band/B0001/report", "relay/B0001/batch", "sentiment"):
        publish(band, sub_topic, tag)
    gateway = clients.connect(GATEWAY, tls=True)
    publish(gateway, "sentiment", tag)
    settle(gateway, inbox, "gateway/probe")
    assert inbox.with_tag(tag) == {"band/B0001/report", "sentiment"}


def test_mqtts_url_parses_to_a_working_client(clients: Clients) -> None:
    # How the gateway starts: one URL, and the venue CA file.
    venue = clients.venue
    url = BrokerURL.parse(
        f"mqtts://{GATEWAY}:{venue.passwords[GATEWAY]}@127.0.0.1:{venue.tls_port}"
    )
    assert url.tls and url.port == venue.tls_port
    client = make_client(url, client_id="gateway-test", ca_file=str(venue.ca))
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connected.set() if not rc.is_failure else None
    client.connect(url.host, url.port)
    client.loop_start()
    try:
        assert connected.wait(TIMEOUT)
    finally:
        client.loop_stop()
        client.disconnect()


@pytest.mark.parametrize("trust", ["system", "other-ca"])
def test_mqtts_fails_without_the_venue_ca(venue: Venue, pki: Pki, trust: str) -> None:
    url = venue.url(GATEWAY, tls=True)
    client = make_client(url, ca_file=str(pki.other_ca) if trust == "other-ca" else None)
    with pytest.raises(ssl.SSLCertVerificationError):
        client.connect(url.host, url.port)


# --- the generator and the shipped files ---------------------------------------------


def test_shipped_files_are_the_generators_output() -> None:
    assert (SHIPPED / "crowdpulse.conf").read_text() == render_conf()
    assert (SHIPPED / "acl.template").read_text() == acl_template()


def test_filling_the_template_by_hand_gives_the_generated_acl() -> None:
    filled = (
        acl_template()
        .replace("{{venue}}", VENUE)
        .replace("{{relay_id}}", "relay-1")
        .replace("{{gateway_user}}", GATEWAY)
        .replace("{{console_user}}", CONSOLE)
    )
    assert filled == render_acl(VENUE, ["relay-1"], GATEWAY, CONSOLE)


def test_relay_rights_are_never_patterns() -> None:
    acl = render_acl(VENUE, RELAYS, GATEWAY, CONSOLE)
    rules = [line for line in acl.splitlines() if line and not line.startswith("#")]
    assert not [r for r in rules if r.startswith("pattern") and "/relay/" in r]
    assert not [r for r in rules if "%c" in r]
    assert "user relay-1" in rules and "user relay-2" in rules
    assert render_acl(VENUE, [], GATEWAY, None).count("\nuser ") == 1  # the gateway only


@pytest.mark.parametrize(
    "venue_name,relays",
    [
        ("Club X", ["r1"]),
        ("club/x", ["r1"]),
        ("club-x", ["r/1"]),
        ("club-x", ["r+"]),
        ("club-x", ["#"]),
        ("club-x", [""]),
        ("club-x", ["gateway"]),
        ("club-x", ["r1", "r1"]),
        ("club-x", ["console"]),
    ],
)
def test_render_acl_refuses_what_would_break_the_rules(venue_name: str, relays: list[str]) -> None:
    with pytest.raises(DeployError):
        render_acl(venue_name, relays, GATEWAY, CONSOLE)


def test_a_band_id_may_not_be_a_relay_id() -> None:
    check_usernames(BANDS, RELAYS, GATEWAY, CONSOLE)
    with pytest.raises(DeployError, match="relay-1"):
        check_usernames(["B0001", "relay-1"], RELAYS, GATEWAY, CONSOLE)
