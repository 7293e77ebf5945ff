"""The name grammar of venues, zones and ids, as host regexes.

The grammar is wristband.packet's (NAME_CHARS, ID_CHARS, NAME_MAX), the one the
band checks its own config with; these only compile it for the host.  Use
`fullmatch`.
"""

from __future__ import annotations

import re

from wristband import packet


def _grammar(chars: str) -> re.Pattern[str]:
    return re.compile(f"[{re.escape(chars)}]{{1,{packet.NAME_MAX}}}")


NAME_RE = _grammar(packet.NAME_CHARS)  # venues and zones
ID_RE = _grammar(packet.ID_CHARS)  # bands, relays, MQTT users
