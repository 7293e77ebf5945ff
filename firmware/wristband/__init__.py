"""The on-band package: wire format, DSP and runtime.  Copied onto every band."""

VERSION = "0.1.0"
