"""The venue's Mosquitto: its configuration and its access control list.

`render_conf()` gives the broker configuration and `render_acl()` the ACL for
one venue; `deploy/mosquitto/crowdpulse.conf` and `deploy/mosquitto/acl.template`
are these renderings (with defaults and with placeholders), and a test keeps
them equal.  docs/deploy.md explains how a venue uses them.

Why the ACL has the shape it has (Mosquitto 2.0 semantics):

- `pattern` lines apply to *every* authenticated user, wherever they stand in
  the file.  Only rules that are right for every credential may be patterns:
  "write the band report topic that carries your own username" and "read the
  venue's config and cmd".
- Everything a relay, the gateway or the console may do beyond that is a
  `user` block with literal topics.  Relay rights in particular must never be a
  pattern with %u: then any credential, a band's included, could publish
  `relay/<its own username>/batch`.  A name that merely looks like a relay id
  gets nothing; only the relay ids listed here do.  (Never use %c either: the
  client id is chosen freely by the client.)
- Because the band pattern also applies to relays and the console, their
  blocks `deny` the band topics; Mosquitto checks a user's `deny` lines before
  any grant, patterns included.  The gateway cannot take that deny (a deny
  also blocks reading, and the gateway reads every report), so the gateway's
  credential can write `band/<gateway user>/report`; it holds the venue key and
  could forge any report anyway, so this grants it nothing new.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from crowdpulse.mqtt import topic
from crowdpulse.names import ID_RE, NAME_RE

TOPIC_LEVEL_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")

# Where docs/deploy.md puts things on the gateway host.
PASSWORD_FILE = "/etc/mosquitto/crowdpulse.passwd"
ACL_FILE = "/etc/mosquitto/crowdpulse.acl"
# broker.*, never venue.key: that name is the venue key's (docs/deploy.md), and a
# certificate made in the same folder must not overwrite it
CERT_FILE = "/etc/mosquitto/certs/broker.crt"
KEY_FILE = "/etc/mosquitto/certs/broker.key"
LAN_ADDRESS = "10.0.0.2"

# Placeholders of the shipped deploy/mosquitto/acl.template.
PLACEHOLDERS = {
    "venue": "{{venue}}",
    "relay_id": "{{relay_id}}",
    "gateway_user": "{{gateway_user}}",
    "console_user": "{{console_user}}",
}


class DeployError(ValueError):
    """A venue name, id or user name that cannot go into the broker's files."""


def check_venue(venue: str) -> str:
    if not NAME_RE.fullmatch(venue):
        raise DeployError(f"venue must be 1-32 of a-z 0-9 _ -, got {venue!r}")
    return venue


def check_id(name: str, what: str = "id") -> str:
    if not ID_RE.fullmatch(name):
        raise DeployError(f"{what} must be 1-32 of A-Z a-z 0-9 . _ -, got {name!r}")
    return name


def check_usernames(
    band_ids: Iterable[str],
    relay_ids: Iterable[str],
    gateway_user: str = "gateway",
    console_user: str | None = "console",
    readers: Iterable[str] = (),
) -> None:
    """Every MQTT username is one credential: band ids, relay ids, the gateway,
    the console and the readers must all be valid and distinct.  (A band id
    equal to a relay id would share the relay's password-file line and so its
    relay rights.)"""
    seen: dict[str, str] = {}
    named = [(gateway_user, "gateway user")]
    if console_user is not None:
        named.append((console_user, "console user"))
    named += [(r, "reader") for r in readers]
    named += [(r, "relay id") for r in relay_ids] + [(b, "band id") for b in band_ids]
    for name, what in named:
        check_id(name, what)
        if name in seen:
            raise DeployError(
                f"{name!r} is both a {seen[name]} and a {what}; every MQTT username must be unique"
            )
        seen[name] = what


def check_prefix(prefix: str) -> str:
    """A topic prefix outside the venue's (Home Assistant's discovery prefix)."""
    levels = prefix.split("/")
    if prefix.startswith("$") or not all(TOPIC_LEVEL_RE.fullmatch(level) for level in levels):
        raise DeployError(
            f"topic prefix must be levels of A-Z a-z 0-9 . _ - joined by /, got {prefix!r}"
        )
    return prefix


def render_acl(
    venue: str,
    relay_ids: Sequence[str],
    gateway_user: str = "gateway",
    console_user: str | None = "console",
    readers: Sequence[str] = (),
    ha_prefix: str | None = None,
) -> str:
    """The Mosquitto ACL file for `venue`, its relays, gateway and console.

    Bands need no lines of their own: their username is their band id, and one
    pattern covers all of them.  `console_user=None` leaves the console out.
    `readers` are read-only users (dashboards, Home Assistant, third parties):
    they see what the console sees but cannot send selector actions.
    `ha_prefix` (e.g. "homeassistant") lets the gateway publish Home Assistant
    discovery under it, and the readers read it.
    """
    check_venue(venue)
    check_usernames((), relay_ids, gateway_user, console_user, readers)
    if ha_prefix is not None:
        check_prefix(ha_prefix)
    return _acl(venue, relay_ids, gateway_user, console_user, readers, ha_prefix)


def acl_template() -> str:
    """The ACL with placeholders: the text of deploy/mosquitto/acl.template."""
    return _acl(
        PLACEHOLDERS["venue"],
        [PLACEHOLDERS["relay_id"]],
        PLACEHOLDERS["gateway_user"],
        PLACEHOLDERS["console_user"],
        (),
        None,
    )


def _acl(
    venue: str,
    relay_ids: Sequence[str],
    gateway: str,
    console: str | None,
    readers: Sequence[str],
    ha_prefix: str | None,
) -> str:
    def t(*parts: str) -> str:
        return topic(venue, *parts)

    # What the console and readers may see besides config and cmd: the gateway's
    # outputs and everyone's health, never a band's report, a relay's batch or
    # what gateway workers exchange (gateway/accepted/...).
    published = [
        t("sentiment"),
        t("sentiment", "+"),
        t("selector", "state"),
        t("gateway", "status"),
        t("gateway", "+", "status"),
        t("relay", "+", "status"),
    ]
    if ha_prefix is not None:
        published += [t("ha", "#"), f"{ha_prefix}/#"]

    lines = [
        f"# crowdpulse: Mosquitto ACL for venue {venue}",
        "# Made by crowdpulse.deploy.render_acl(); see docs/deploy.md.  Mosquitto 2.0 or later.",
        "# Usernames: a band's is its band id, a relay's its relay id.  Anonymous is off,",
        "# so there are no anonymous lines.  Reload after a change: systemctl reload mosquitto",
        "",
        "# --- every user (a pattern applies to all credentials, whatever user blocks follow)",
        "# A band publishes only its own reports: the topic level must equal its username.",
        f"pattern write {t('band', '%u', 'report')}",
        "# Bands (and relays, which pass them on in beacons) read the config and commands.",
        "# Mosquitto warns that these two patterns hold no %u or %c: that is intended.",
        f"pattern read {t('config')}",
        f"pattern read {t('cmd')}",
        "",
        "# --- the gateway: reads everything of the venue; the only publisher of its outputs",
        f"user {gateway}",
        f"topic read {t('#')}",
        f"topic write {t('sentiment')}",
        f"topic write {t('sentiment', '+')}",
        f"topic write {t('config')}",
        f"topic write {t('cmd')}",
        f"topic write {t('selector', 'state')}",
        f"topic write {t('selector', 'cmd')}",
        "# gateway/status, gateway/<worker>/status, gateway/accepted/<worker>",
        f"topic write {t('gateway', '#')}",
    ]
    if ha_prefix is not None:
        lines += [
            "# Home Assistant: its own once-a-second state topics, and discovery",
            f"topic write {t('ha', '#')}",
            f"topic write {ha_prefix}/sensor/+/config",
        ]
    lines.append("")
    if console is not None:
        lines += [
            "# --- the console: sends selector actions, reads what the gateway publishes",
            f"user {console}",
            f"topic deny {t('band', '#')}",
            f"topic write {t('selector', 'cmd')}",
            *(f"topic read {p}" for p in published),
            "",
        ]
    for reader in readers:
        lines += [
            "# --- a read-only user: sees what the console sees, sends nothing",
            f"user {reader}",
            f"topic deny {t('band', '#')}",
            *(f"topic read {p}" for p in published),
            "",
        ]
    lines += [
        "# --- relays: one block per relay id, literal topics only (never a %u pattern:",
        "# that would let every band publish relay/<its band id>/batch).  The deny",
        "# overrides the band pattern above, so a relay cannot pose as a band.  A relay",
        "# reads its own status back, to correct a stale last will.",
    ]
    for relay in relay_ids:
        lines += [
            f"user {relay}",
            f"topic deny {t('band', '#')}",
            f"topic write {t('relay', relay, 'batch')}",
            f"topic readwrite {t('relay', relay, 'status')}",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


def render_conf(
    *,
    password_file: str = PASSWORD_FILE,
    acl_file: str = ACL_FILE,
    certfile: str = CERT_FILE,
    keyfile: str = KEY_FILE,
    lan_address: str | None = LAN_ADDRESS,
    lan_port: int | None = 1883,
    tls_address: str | None = None,
    tls_port: int = 8883,
) -> str:
    """The broker configuration: the text of deploy/mosquitto/crowdpulse.conf
    with the defaults.  It goes in /etc/mosquitto/conf.d/, under Debian's
    mosquitto.conf (pid file, persistence, logging).  `lan_port=None` leaves
    out the plain listener (TLS only); an address of None binds every interface.
    """

    def listener(port: int, address: str | None) -> str:
        return f"listener {port}" + (f" {address}" if address else "")

    lines = [
        "# crowdpulse: the venue's Mosquitto (2.0 or later).  Made by",
        "# crowdpulse.deploy.render_conf(); copy to /etc/mosquitto/conf.d/crowdpulse.conf",
        "# and see docs/deploy.md.",
        "",
        "# One set of users and one ACL for every listener.",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {password_file}",
        f"acl_file {acl_file}",
        "# A credential could take over another client's session by reusing its client id;",
        "# this stops it, at the price of one connection per username at a time:",
        "#use_username_as_clientid true",
        "",
    ]
    if lan_port is not None:
        lines += [
            "# Plain MQTT for the bands, on the venue LAN's address only (never a public",
            "# interface): passwords cross it in clear, so keep it on the WPA2 band network.",
            listener(lan_port, lan_address),
            "",
        ]
    lines += [
        "# mqtts: the gateway, relays, consoles (and bands configured with tls).",
        listener(tls_port, tls_address),
        f"certfile {certfile}",
        f"keyfile {keyfile}",
        "tls_version tlsv1.2",
    ]
    return "\n".join(lines) + "\n"
