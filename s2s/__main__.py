"""`python -m s2s ...`: see s2s/cli.py."""

import sys

from s2s.worker import quiet_import_tensorflow

quiet_import_tensorflow()

from s2s.cli import main  # noqa: E402

sys.exit(main())
