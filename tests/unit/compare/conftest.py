from __future__ import annotations

from pathlib import Path

import pytest
from resultsgen import two_config_runs, write_results


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    """Two configs, three iterations each; the second is clearly faster."""
    runs = two_config_runs([1000.0, 1010.0, 990.0], [1500.0, 1490.0, 1510.0])
    return write_results(tmp_path, "exp-20250101-000000", runs)
