"""``python -m tianwang.cli``: the command line, as ``tianwang``."""

from tianwang.cli import app

app()
