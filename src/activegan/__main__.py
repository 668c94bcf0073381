from activegan.cli import main

raise SystemExit(main())
