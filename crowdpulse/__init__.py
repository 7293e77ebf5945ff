"""crowdpulse: open, privacy-first crowd sentiment for DJs and artists."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("crowdpulse")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
