"""The simulated world: acoustics, the crowd and its tastes, scenarios, sound, the radio."""
