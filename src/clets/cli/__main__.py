"""``python -m clets.cli`` runs the ``clets`` command."""

from clets.cli import main

main()
