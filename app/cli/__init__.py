"""The ``ponder`` commands: argument parsing and the terminal side of chat, models, history
and serve. An interface over the domain (``app``) and the engines (``backends``); nothing in
the domain imports it. The entry point is :func:`app.cli.main.main`."""
