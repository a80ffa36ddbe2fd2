"""The frozen app's entry script: ``ponder`` exactly as the installed console script runs it.

The ``ponder`` command enters through :func:`ui.launch.main`, which hands over to
:func:`app.cli.main`; that calls :func:`multiprocessing.freeze_support` before anything else,
so the engine worker process (spawned by re-running this executable) starts here too.
"""

import sys

from ui.launch import main

if __name__ == "__main__":
    sys.exit(main())
