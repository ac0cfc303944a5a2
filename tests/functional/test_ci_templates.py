"""The CI templates users copy: valid against the published schemas (check-jsonschema's
vendored GitHub workflow and GitLab CI schemas; actionlint is not reachable here), and
every tmemlab command in them parses with today's command line. The GitLab file also runs
for real under gitlab-ci-local (tests/e2e/test_ci_pipeline_e2e.py)."""

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.cli import build_parser
from harness.report.compare.cli import compare_parser

pytestmark = pytest.mark.functional

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / ".venv" / "bin" / "check-jsonschema"
TEMPLATES = {"github-workflow.yml": "vendor.github-workflows",
             "gitlab-ci.yml": "vendor.gitlab-ci"}


def check(path: Path, schema: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CHECK), "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_is_valid_against_its_schema(name):
    proc = check(ROOT / "ci" / name, TEMPLATES[name])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name, breakage", [
    ("github-workflow.yml", ("runs-on: [self-hosted, kvm]", "runs_on: [self-hosted, kvm]")),
    ("gitlab-ci.yml", ("when: always\n  script:", "when: sometimes\n  script:")),
])
def test_the_schema_check_catches_a_broken_template(tmp_path, name, breakage):
    text = (ROOT / "ci" / name).read_text()
    assert breakage[0] in text
    broken = tmp_path / name
    broken.write_text(text.replace(breakage[0], breakage[1], 1))
    assert check(broken, TEMPLATES[name]).returncode != 0


def commands(name: str) -> list[list[str]]:
    """Every tmemlab command line in a template's scripts, with the template's own
    variable defaults (GitLab ``variables:``, GitHub ``env:``) and a shard filled in."""
    data = yaml.safe_load((ROOT / "ci" / name).read_text())
    defaults = {k: str(v) for k, v in (data.get("variables") or data.get("env")).items()}
    defaults.update(CI_NODE_INDEX="1", CI_NODE_TOTAL="2", TMEMLAB_BASELINE="")
    lines = []

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and re.search(r"tmemlab (run|merge|compare)", node,
                                                 re.IGNORECASE):
            lines.append(node)

    walk(data)
    out = []
    for line in lines:
        line = line.split(">", 1)[0].split("||", 1)[0]
        line = re.sub(r"\$\{\{[^}]*\}\}", "1", line)           # ${{ matrix.shard }}
        line = re.sub(r"\$\{TMEMLAB_BASELINE:\+[^}]*\}", "", line)
        line = re.sub(r"\$\{?(\w+)\}?", lambda m: defaults[m[1]], line)
        words = shlex.split(line)
        assert words[0] == ".venv/bin/tmemlab", line
        out.append(words[1:])
    return out


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_tmemlab_command_parses(name):
    found = commands(name)
    assert {argv[0] for argv in found} == {"run", "merge", "compare"}, found
    for argv in found:
        if argv[0] == "compare":
            compare_parser().parse_args(argv[1:])
        else:
            args = build_parser().parse_args(argv)
            assert args.func
