"""Compare results folders: statistics, tables, plots, HTML, KTAP/JUnit and a CI gate.

The runner calls ``report_experiment(results_dir, console)`` at the end of an experiment;
``harness.cli`` forwards ``tmemlab compare`` / ``tmemlab show`` to ``cli.main_compare`` /
``cli.main_show``. Importing this package is cheap: scipy and matplotlib load on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.report.compare.errors import CompareError, ResultsDirError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["CompareError", "ResultsDirError", "report_experiment"]


def report_experiment(results_dir: Path, console: Console) -> None:
    """Write RESULTS_DIR/compare/{comparison.md,.csv,.json,*.png,report.html},
    RESULTS_DIR/results.ktap and RESULTS_DIR/junit.xml, and print the table on ``console``.

    Raises CompareError (its str is one line for the user) when the folder is unusable.
    """
    from harness.report.compare.report import report_experiment as _report

    _report(Path(results_dir), console)
