from lstm_search.cli import main

raise SystemExit(main())
