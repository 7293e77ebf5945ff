"""The embedded MQTT broker (amqtt), for machines without Mosquitto.

`python -m crowdpulse.embedded_broker PORT` serves MQTT 3.1.1 on 127.0.0.1:PORT
until SIGTERM or Ctrl-C.  The demo starts it in its own process so that the
broker's event loop never competes with the simulator for the GIL.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from amqtt.broker import Broker


def config(port: int) -> dict[str, object]:
    return {
        "listeners": {
            "default": {"type": "tcp", "bind": f"127.0.0.1:{port}", "max_connections": 100}
        },
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


async def serve(port: int) -> None:
    broker = Broker(config(port))
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await broker.shutdown()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.ERROR)
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m crowdpulse.embedded_broker PORT", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(int(argv[0])))
    except OSError as exc:
        print(
            f"embedded broker: cannot listen on 127.0.0.1:{argv[0]}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
