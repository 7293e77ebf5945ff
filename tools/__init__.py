"""Host tooling for flashing and provisioning fleets of bands."""
