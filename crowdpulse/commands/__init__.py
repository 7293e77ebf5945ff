"""One module per `crowdpulse` subcommand."""
