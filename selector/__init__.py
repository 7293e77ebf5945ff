"""The selector: turns crowd sentiment into the next track, with the artist in charge."""
