"""The hardware and crowd simulator."""
