from edgeconsole.launcher import main

raise SystemExit(main())
