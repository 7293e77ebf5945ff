"""The DJ console: static web assets (no CDN, works offline) served by the gateway at /."""

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
