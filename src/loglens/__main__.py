"""``python -m loglens``: the same as the ``loglens`` command."""

from loglens.cli import main

main()
