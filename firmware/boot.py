# crowdpulse band: nothing to do before main.py.  No hardware is touched here,
# so a band with a broken main.py still boots to a REPL for the flashing tool.
