"""Every output produced and parsed back."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser

import pytest
from resultsgen import make_run, two_config_runs, write_results
from rich.console import Console

from harness.report.compare.loader import load_results_dir
from harness.report.compare.render_data import CSV_FIELDS, render_csv, render_json
from harness.report.compare.render_html import render_html
from harness.report.compare.render_md import render_markdown
from harness.report.compare.render_text import print_table
from harness.report.compare.report import compare_dirs


@pytest.fixture
def table(results_dir):
    return compare_dirs([load_results_dir(results_dir)])


def md_rows(text: str) -> list[list[str]]:
    rows = [re.split(r"(?<!\\)\|", line.strip()[1:-1]) for line in text.splitlines()
            if line.startswith("| ")]
    return [[c.strip() for c in r] for r in rows]


def md_sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## ", text, flags=re.M)
    return {p.split("\n", 1)[0]: p for p in parts[1:]}


def test_markdown_leads_with_the_headline(table):
    text = render_markdown(table, plots=("throughput", "psi"))
    assert list(md_sections(text)) == ["Headline", "Plots", "All metrics"]
    assert "Holm–Bonferroni over 6 primary metrics" in md_sections(text)["Headline"]
    assert "![throughput](throughput.png)" in md_sections(text)["Plots"]
    head = md_rows(md_sections(text)["Headline"])
    assert head[0] == ["primary metric", "unit", "dir", "tmem+pressure", "zswap+pressure"]
    by_metric = {r[0]: r for r in head[1:]}
    assert by_metric["verdict"][3:] == ["reference", "worse: pages_per_sec, elapsed_s"]
    tput = by_metric["passes: throughput"]
    assert "-33.34%* (p=2.44e-06, Holm 1.22e-05)" in tput[4]
    assert by_metric["geomean ratio (primary, not tested)"][3:] == ["1.0000", "0.9005 (6 primary)"]
    assert "pswpout" not in md_sections(text)["Headline"]
    assert by_metric["accelerator"][1:] == ["tcg", "tcg"]


def test_markdown_parses_back(table):
    rows = md_rows(md_sections(render_markdown(table))["All metrics"])
    assert rows[0] == ["metric", "unit", "dir", "tmem+pressure", "zswap+pressure"]
    by_metric = {(r[0], r[1]): r for r in rows[1:]}
    assert by_metric[("runs", "")][3] == "3 passed"
    tput = by_metric[("throughput", "pages/s")]
    assert tput[2] == "↑" and tput[3].startswith("1.5k ±10")
    assert "-33.34%*" in tput[4]
    assert by_metric[("throughput", "B/s")][4].endswith("-33.34%")  # descriptive: no star
    assert by_metric[("elapsed", "s")][2] == "↓"
    assert all(len(r) == 5 for r in rows)


def test_markdown_single_iteration_says_so(tmp_path):
    d = load_results_dir(write_results(tmp_path, "r", two_config_runs([100.0], [200.0])))
    text = render_markdown(compare_dirs([d]))
    assert "Single iteration" in text and "(n=1)" in text
    assert "±" not in "".join(r[4] for r in md_rows(md_sections(text)["All metrics"]))
    head = {r[0]: r for r in md_rows(md_sections(text)["Headline"])}
    assert head["verdict"][4] == "n=1: no test possible"
    assert head["passes: throughput"][4] == "100 (n=1) n=1: no test possible"  # no -50 %
    assert "%" not in "".join(r[4] for r in md_rows(md_sections(text)["All metrics"]))


def test_csv_parses_back(table):
    rows = list(csv.DictReader(io.StringIO(render_csv(table))))
    assert tuple(rows[0]) == CSV_FIELDS
    assert len(rows) == 2 * len(table.rows)
    got = {(r["metric"], r["column"]): r for r in rows}
    cell = table.row("pages_per_sec").cells[1]
    r = got[("pages_per_sec", "zswap+pressure")]
    assert float(r["mean"]) == cell.summary.mean
    assert float(r["p_value"]) == cell.p_value
    assert r["significant"] == "True" and r["reference"] == "tmem+pressure"
    assert got[("pages_per_sec", "tmem+pressure")]["gain_pct"] == ""


def test_json_parses_back(table):
    data = json.loads(render_json(table))
    assert data["alpha"] == 0.05
    assert [c["key"] for c in data["columns"]] == ["tmem+pressure", "zswap+pressure"]
    assert data["columns"][1]["geomean_ratio"] == table.geomean[1].value
    assert data["correction"] == "Holm–Bonferroni over 6 primary metrics per comparison"
    assert data["columns"][1]["family"]["size"] == 6
    assert data["columns"][1]["verdict"]["worse"] == ["pages_per_sec", "elapsed_s"]
    tput = next(m for m in data["metrics"] if m["name"] == "pages_per_sec")
    cell = tput["cells"]["zswap+pressure"]
    assert cell["primary"] and cell["p_value"] <= cell["p_adjusted"] and cell["significant"]
    metric = next(m for m in data["metrics"] if m["name"] == "elapsed_s")
    assert metric["direction"] == "lower" and metric["path"] == "result.elapsed_s"
    assert metric["cells"]["zswap+pressure"]["values"] == [10.0, 10.0, 10.0]


def test_rich_table(table):
    console = Console(record=True, width=200)
    print_table(table, console)
    text = console.export_text()
    assert "tmem+pressure" in text and "throughput ↑" in text and "-33.34%*" in text
    assert "geomean ratio" in text and "Holm–Bonferroni over 6 primary metrics" in text
    assert text.index("headline") < text.index("all metrics") < text.index("swap outs")


def test_rich_prints_warnings(tmp_path):
    a = write_results(tmp_path, "a", [make_run("x", 1, 1.0)])
    b = write_results(tmp_path, "b", [make_run("x", 1, 1.0, memory_mib=512)])
    console = Console(record=True, width=200)
    print_table(compare_dirs([load_results_dir(a), load_results_dir(b)]), console)
    assert "warning: compared runs differ in guest memory" in console.export_text()


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs: list[dict] = []
        self.tables = 0

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs))
        self.tables += tag == "table"


def test_html_is_self_contained(table):
    html = render_html(table, {"throughput": b"\x89PNG fake"}, {"r": [("host", "<lab>")]})
    p = _Collect()
    p.feed(html)
    assert [i["id"] for i in p.imgs] == ["plot-throughput"]
    assert p.imgs[0]["src"].startswith("data:image/png;base64,iVBOR")
    assert "&lt;lab&gt;" in html and "http" not in html.replace("http-equiv", "")
    assert p.tables >= 2 and 'class="worse"' in html
    assert html.index('id="headline"') < html.index('id="plot-throughput"') \
        < html.index('id="comparison"')
    assert "Holm–Bonferroni over 6 primary metrics" in html
