"""The bundle's entry script (tools/bundle.py hands it to PyInstaller).

``multiprocessing.freeze_support()`` comes first: with ``--audio-process separate`` the audio
process is started by ``spawn``, which in a frozen app re-runs this executable with
``--multiprocessing-fork``; without the call the child would parse that as the app's command line
and hang (issue 17). PyInstaller's runtime hook makes the call work on Linux and macOS too.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from prelude_play.cli import main

    sys.exit(main())
