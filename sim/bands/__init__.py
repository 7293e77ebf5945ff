"""The simulated bands and what they compute and send: the DSP twin, virtual bands, emitters."""
