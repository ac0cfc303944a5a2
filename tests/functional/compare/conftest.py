"""Share the constructed-results builder of the unit tests (tests/unit/compare/resultsgen.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "compare"))
