"""``python -m tianwang``: the command line."""

from tianwang.cli import app

app()
