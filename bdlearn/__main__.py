"""``python -m bdlearn ...`` runs the ``bdlearn`` command (:func:`bdlearn.cli.main`) where its script is not on PATH."""
import sys

from bdlearn.cli import main

sys.exit(main())
