"""``python -m curso``: the same as the ``curso`` command."""
import sys

from curso.cli import main

sys.exit(main())
