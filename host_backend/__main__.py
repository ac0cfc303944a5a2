"""`python -m host_backend serve ...`"""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
