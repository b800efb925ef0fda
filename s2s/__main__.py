"""`python -m s2s ...`: see s2s/cli.py."""

import os
import sys


def _quiet_import_tensorflow() -> None:
    # TensorFlow's C++ libraries print start-up chatter (oneDNN, CUDA probing) straight to file
    # descriptor 2, and TF_CPP_MIN_LOG_LEVEL does not silence all of it once Keras is imported.
    # Hide fd 2 for the import alone; a failing import still raises (and prints) normally.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_quiet_import_tensorflow()

from s2s.cli import main  # noqa: E402

sys.exit(main())
