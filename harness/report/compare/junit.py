"""JUnit XML for an experiment: one <testcase> per run, a failed run carries its console tail."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from harness.report.compare.loader import RunRecord
from harness.report.compare.metrics import lookup

# characters XML 1.0 cannot carry (console logs hold ANSI escapes and the odd NUL)
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", text)


def run_seconds(run: RunRecord) -> float:
    """Boot plus workload time, the closest the run JSON has to a test duration."""
    parts = (lookup(run.data, ("boot_seconds",)), lookup(run.data, ("result", "elapsed_s")))
    return sum(p for p in parts if p is not None)


def _testcase(parent: ET.Element, run: RunRecord, tail: str) -> None:
    case = ET.SubElement(parent, "testcase", {
        "classname": f"tmemlab.{run.label}", "name": run.run_id,
        "time": f"{run_seconds(run):.3f}",
    })
    if run.passed:
        return
    reason = str((run.failure or {}).get("reason") or run.status)
    failure = ET.SubElement(case, "failure", {"message": xml_text(reason), "type": "RunFailed"})
    failure.text = xml_text(tail)


def render_junit(runs: list[RunRecord], tails: dict[str, str], name: str = "tmemlab") -> str:
    failures = sum(not r.passed for r in runs)
    root = ET.Element("testsuites", {"name": "tmemlab", "tests": str(len(runs)),
                                     "failures": str(failures), "errors": "0"})
    suite = ET.SubElement(root, "testsuite", {
        "name": xml_text(name), "tests": str(len(runs)), "failures": str(failures),
        "errors": "0", "skipped": "0",
        "time": f"{sum(run_seconds(r) for r in runs):.3f}",
    })
    for run in runs:
        _testcase(suite, run, tails.get(run.run_id, ""))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
