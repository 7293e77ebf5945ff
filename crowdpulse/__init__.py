"""crowdpulse: open, privacy-first crowd sentiment for DJs and artists."""

from wristband import VERSION

# One version source: the firmware's, which a band prints at boot (fw=...);
# pyproject.toml reads the same attribute for the package's metadata.
__version__: str = VERSION
