"""Build the guest tools once per session and run them on the host.

The tools are plain Linux userspace, so at small sizes the host runs them
exactly as a guest would; only the memory pressure is missing.
"""

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

TOOLS_SRC = Path(__file__).resolve().parents[3] / "guest_images" / "tools"


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict:
        """The one JSON object pressure prints; stdout must hold nothing else."""
        lines = self.stdout.splitlines()
        assert len(lines) == 1, self.stdout
        return json.loads(lines[0])


@pytest.fixture(scope="session")
def tools(tmp_path_factory) -> Path:
    if shutil.which("gcc") is None or shutil.which("make") is None:
        pytest.skip("gcc and make are needed to build the guest tools")
    out = tmp_path_factory.mktemp("guest-tools")
    subprocess.run(
        ["make", "-C", str(TOOLS_SRC), "-j2", "--no-print-directory", f"O={out}", "test-helpers"],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture
def run_tool(tools):
    def run(name: str, *args: str, env: dict | None = None, timeout: float = 30) -> Run:
        proc = subprocess.run(
            [str(tools / name), *args],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def pressure(run_tool):
    return lambda *args, **kw: run_tool("pressure", *args, **kw)
