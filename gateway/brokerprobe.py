"""Is the broker there, and will it let the gateway in?  One line per step, with the fix.

    reachable   a TCP connection (name resolved, something listening)
    TLS         the broker's certificate verified against --ca-file (mqtts:// only)
    login       the broker's answer to the credentials in the URL
    ACL         the credential may write under crowdpulse/v1/<venue>/gateway/ and read
                crowdpulse/v1/<venue>/#: a message to the probe's own topic comes back

`crowdpulse doctor` runs all four; the gateway uses `connect_failure` and
`refusal` to say in its log (and its health) why it is not connected.  MQTT 5
is used for the ACL step: Mosquitto answers a denied publish with "Not
authorized" there, where MQTT 3.1.1 acknowledges it and drops it silently.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTProtocolVersion

from crowdpulse.mqtt import BrokerURL, make_client, topic

TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Check:
    """One line of a check: level ok, warn or fail; what was found; how to fix it."""

    level: str
    what: str
    fix: str = ""

    def line(self) -> str:
        head = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}[self.level]
        return f"{head}  {self.what}" + (f"; fix: {self.fix}" if self.fix else "")


@dataclass
class Result:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.level != "fail" for c in self.checks)

    @property
    def problem(self) -> Check | None:
        return next((c for c in self.checks if c.level == "fail"), None)


def connect_failure(exc: BaseException, url: BrokerURL, ca_file: str | None) -> Check:
    """Why `client.connect()` raised, in words."""
    where = f"{url.host}:{url.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = getattr(exc, "verify_code", 0)
        if code == 62 or "hostname" in str(exc).lower():
            return Check(
                "fail",
                f"TLS: the broker's certificate does not name {url.host}",
                "connect with a name the certificate holds (its subjectAltName), "
                "or re-make it with that name (docs/deploy.md §5)",
            )
        if code == 10:
            return Check(
                "fail",
                "TLS: the broker's certificate has expired",
                "renew it and reload mosquitto (docs/deploy.md §5)",
            )
        trust = f"the CA in {ca_file}" if ca_file else "this machine's CAs"
        return Check(
            "fail",
            f"TLS: the broker's certificate is not trusted by {trust} "
            f"({getattr(exc, 'verify_message', exc)})",
            "give --ca-file with the venue CA certificate (venue-ca.crt)"
            if not ca_file
            else "give --ca-file the CA that signed the broker's certificate",
        )
    if isinstance(exc, ssl.SSLError) or (url.tls and isinstance(exc, ConnectionResetError)):
        # a plain MQTT listener resets a TLS hello, or answers it with garbage
        why = getattr(exc, "reason", None) or exc.strerror or exc
        return Check(
            "fail",
            f"TLS handshake with {where} failed ({why})",
            f"is {where} a TLS port? use mqtts:// with port 8883, mqtt:// with 1883",
        )
    if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError) and ca_file:
        return Check(
            "fail",
            f"cannot read the CA file {ca_file} ({exc.strerror})",
            "give --ca-file the venue CA certificate (venue-ca.crt)",
        )
    if isinstance(exc, socket.gaierror):
        return Check(
            "fail",
            f"cannot resolve {url.host} ({exc.strerror})",
            "check the broker URL's host, or add it to /etc/hosts",
        )
    if isinstance(exc, ConnectionRefusedError):
        return Check(
            "fail",
            f"nothing listens on {where}",
            "start Mosquitto (systemctl status mosquitto), and check the port: "
            "1883 plain, 8883 TLS, as in crowdpulse.conf",
        )
    if isinstance(exc, TimeoutError | socket.timeout):
        return Check(
            "fail",
            f"no answer from {where} within {TIMEOUT_S:.0f} s",
            "check the network, the address and the firewall",
        )
    return Check(
        "fail", f"cannot connect to {where} ({type(exc).__name__}: {exc})", "check the broker URL"
    )


def refusal(rc: Any, url: BrokerURL) -> Check:
    """The broker's CONNACK said no."""
    name = rc.getName() if hasattr(rc, "getName") else str(rc)
    if url.username is None:
        return Check(
            "fail",
            f"the broker refused a login without credentials ({name})",
            "put user:password in the broker URL (mqtts://gateway:PASSWORD@host:8883, "
            "or $CROWDPULSE_BROKER)",
        )
    return Check(
        "fail",
        f"the broker refused the login of user {url.username} ({name})",
        "check the password in the broker URL ($CROWDPULSE_BROKER); or add the user: "
        f"mosquitto_passwd /etc/mosquitto/crowdpulse.passwd {url.username}, then "
        "systemctl reload mosquitto",
    )


def closed_without_answer(url: BrokerURL) -> Check:
    return Check(
        "fail",
        f"{url.host}:{url.port} closed the connection without an MQTT answer",
        "is it a TLS port? use mqtts:// for 8883"
        if not url.tls
        else "is it an MQTT port? check the port in the broker URL",
    )


class _Session:
    """A short-lived MQTT 5 client that records what the broker answers."""

    def __init__(self, url: BrokerURL, ca_file: str | None, venue: str) -> None:
        self.client = make_client(
            url,
            f"crowdpulse-probe-{venue}-{secrets.token_hex(4)}",
            ca_file,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.connack: Any = None
        self.answered = threading.Event()
        self.pubacks: dict[int, Any] = {}
        self.got: set[bytes] = set()
        self.cond = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self.answered.set()
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message

    def _on_connect(self, _c: object, _u: object, _f: object, rc: Any, _p: object) -> None:
        self.connack = rc
        self.answered.set()

    def _on_publish(self, _c: object, _u: object, mid: int, rc: Any, _p: object) -> None:
        with self.cond:
            self.pubacks[mid] = rc
            self.cond.notify_all()

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.got.add(bytes(msg.payload))
            self.cond.notify_all()

    def close(self) -> None:
        self.client.loop_stop()
        with contextlib.suppress(OSError):
            self.client.disconnect()


def probe(
    url: BrokerURL, ca_file: str | None, venue: str, keep: bool = False, acl: bool = True
) -> tuple[Result, _Session | None]:
    """Run the steps (the ACL's only with `acl`); with `keep`, also return the
    connected session (MQTT 5, loop running) for the caller to use and close."""
    res = Result()
    s = _Session(url, ca_file, venue)
    try:
        s.client.connect(url.host, url.port, keepalive=15)
    except (OSError, ValueError) as exc:
        res.checks.append(connect_failure(exc, url, ca_file))
        return res, None
    res.checks.append(Check("ok", f"broker {url}: reachable"))
    if url.tls:
        res.checks.append(Check("ok", f"TLS: certificate verified ({ca_file or 'system CAs'})"))
    s.client.loop_start()
    if not s.answered.wait(TIMEOUT_S) or s.connack is None:
        res.checks.append(closed_without_answer(url))
        s.close()
        return res, None
    if s.connack.is_failure:
        res.checks.append(refusal(s.connack, url))
        s.close()
        return res, None
    res.checks.append(Check("ok", f"login as {url.username or '(anonymous)'} accepted"))
    if acl:
        res.checks.append(_acl(s, url, venue))
    if keep and res.ok:
        return res, s
    s.close()
    return res, None


def _acl(s: _Session, url: BrokerURL, venue: str) -> Check:
    user = url.username or "(anonymous)"
    mine = topic(venue, "gateway", "probe", secrets.token_hex(4))
    fix = (
        f"render the ACL for venue {venue} with gateway user {user} "
        "(crowdpulse deploy acl), install it, systemctl reload mosquitto"
    )
    sub_done = threading.Event()
    s.client.on_subscribe = lambda *a: sub_done.set()
    s.client.subscribe(topic(venue, "#"), qos=1)
    if not sub_done.wait(TIMEOUT_S):
        return Check("fail", "the broker did not answer a subscription", fix)
    payload = secrets.token_bytes(8)
    info = s.client.publish(mine, payload, qos=1)
    with s.cond:
        s.cond.wait_for(lambda: info.mid in s.pubacks, TIMEOUT_S)
        rc = s.pubacks.get(info.mid)
        if rc is not None and rc.is_failure and rc.getName() == "Not authorized":
            return Check(
                "fail", f"the ACL does not let {user} write {topic(venue, 'gateway', '...')}", fix
            )
        if not s.cond.wait_for(lambda: payload in s.got, TIMEOUT_S):
            return Check("fail", f"the ACL does not let {user} read {topic(venue, '#')}", fix)
    return Check(
        "ok", f"ACL: {user} may write {topic(venue, 'gateway', '...')} and read {topic(venue, '#')}"
    )
