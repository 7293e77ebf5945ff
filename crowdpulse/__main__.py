from crowdpulse.cli import main

raise SystemExit(main())
