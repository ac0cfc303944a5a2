"""Kconfig fragments: parse, and verify that a final .config has what was asked.

A silently dropped option is the classic way kernel comparisons lie: olddefconfig drops a
requested symbol whose dependencies are unmet, without a word. So every symbol a fragment
requests is checked in the final .config, and a miss names the symbol, the fragment and
the dependency (read from the Kconfig sources) that kept it out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SET = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$")
UNSET = re.compile(r"^# CONFIG_([A-Za-z0-9_]+) is not set$")


def parse(text: str) -> dict[str, str]:
    """{symbol: value} with "n" for "is not set"; works for fragments and .config."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if m := SET.match(line):
            out[m.group(1)] = m.group(2)
        elif m := UNSET.match(line):
            out[m.group(1)] = "n"
    return out


@dataclass
class Miss:
    symbol: str
    fragment: str
    requested: str
    actual: str

    def describe(self, srctree: Path | None = None) -> str:
        why = explain(self.symbol, srctree) if srctree else ""
        return (f"CONFIG_{self.symbol}={self.requested} requested by {self.fragment} "
                f"but the final .config has {self.actual}" + (f" ({why})" if why else ""))


def verify(fragments: list[tuple[str, str]], final_config: str) -> list[Miss]:
    """Misses for every (fragment name, text) symbol whose value did not survive.

    Later fragments override earlier ones (as merge_config.sh does), so only the last
    request for a symbol is checked.
    """
    final = parse(final_config)
    wanted: dict[str, tuple[str, str]] = {}
    for name, text in fragments:
        for symbol, value in parse(text).items():
            wanted[symbol] = (name, value)
    misses = []
    for symbol, (fragment, value) in wanted.items():
        actual = final.get(symbol, "n")
        if actual != value:
            shown = "it unset" if actual == "n" else f"CONFIG_{symbol}={actual}"
            misses.append(Miss(symbol, fragment, value, shown))
    return misses


_DEFINES = re.compile(r"^\s*(?:menu)?config\s+([A-Za-z0-9_]+)\s*$", re.M)


def _x86_kconfig_files(srctree: Path):
    for path in srctree.rglob("Kconfig*"):
        if "arch" in path.parts and "x86" not in path.parts:
            continue  # another architecture's definition does not apply to x86 guests
        yield path


def defined_symbols(srctree: Path) -> set[str]:
    """Every symbol a Kconfig file of ``srctree`` defines (``config``/``menuconfig``
    lines), other architectures' files left out."""
    out: set[str] = set()
    for path in _x86_kconfig_files(srctree):
        try:
            out.update(_DEFINES.findall(path.read_text(errors="replace")))
        except OSError:
            continue
    return out


def undefined_requests(fragments: list[tuple[str, str]],
                       defined: set[str]) -> list[tuple[str, str]]:
    """[(fragment, symbol)] for each symbol a fragment sets (=y, =m or a value) that
    ``defined`` lacks. "is not set" of an unknown symbol asks for nothing: left out. As in
    ``verify``, only the last request for a symbol counts."""
    wanted: dict[str, tuple[str, str]] = {}
    for name, text in fragments:
        for symbol, value in parse(text).items():
            wanted[symbol] = (name, value)
    return [(name, symbol) for symbol, (name, value) in wanted.items()
            if value != "n" and symbol not in defined]


def _kconfig_block(symbol: str, srctree: Path) -> list[str] | None:
    """Lines of the ``config SYMBOL`` block in the first Kconfig file defining it."""
    start = re.compile(rf"^\s*(menu)?config\s+{symbol}\s*$")
    for path in _x86_kconfig_files(srctree):
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for i, line in enumerate(lines):
            if start.match(line):
                block = []
                for follow in lines[i + 1:]:
                    if re.match(r"^\s*(config|menuconfig|menu|endmenu|choice|endchoice|"
                                r"if|endif|source|comment)\b", follow):
                        break
                    block.append(follow.strip())
                return block
    return None


def explain(symbol: str, srctree: Path) -> str:
    """Why CONFIG_<symbol> may not be settable: unknown, hidden, or its dependencies."""
    block = _kconfig_block(symbol, srctree)
    if block is None:
        return "no such symbol in this kernel's Kconfig for x86"
    deps = [ln.removeprefix("depends on").strip() for ln in block
            if ln.startswith("depends on")]
    typed = [ln for ln in block if re.match(r"^(bool|tristate|string|int|hex)\b", ln)]
    has_prompt = any('"' in ln for ln in typed) or any(ln.startswith("prompt") for ln in block)
    parts = []
    if not has_prompt:
        parts.append("hidden symbol with no prompt: only another option's 'select' sets it")
    if deps:
        parts.append("depends on " + " && ".join(f"({d})" if "||" in d else d for d in deps))
    return "; ".join(parts) or "its dependencies or a choice group overrode it"
