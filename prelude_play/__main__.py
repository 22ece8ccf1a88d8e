import sys

from prelude_play.cli import main

sys.exit(main())
