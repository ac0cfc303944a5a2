"""Many guests, one host pool: the overcommit report of one results folder's group runs.

A policy is one arm (kernel entry) under one workload mix (workload entry), its group
runs over iterations. What a policy *is* comes from the records, not from its label:
its technique (disk swap, zswap, tmem: harness/report/debate/arms.technique on the members),
whether its guests had their own caps (a quota set per member) or unequal weights, and
the host memory budget M it was given: the guests' RAM, plus the backend's host cap for
a tmem policy (the pool the guests share). The headline compares the shared pool with
the static split of the *same* M and refuses to when the budgets differ.

Per guest: its whole-workload rate (group_aggregate.work_rate) and, when the folder has
a run of the same guest alone (same kernel, cmdline, RAM and workload params, one
guest), its slowdown = rate alone / rate in the group. Fairness is Jain's index over the
guests' rates relative to alone when every guest has a baseline, else over raw rates.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import UsageError
from harness.report.compare.loader import RunRecord, load_results_dir, read_series
from harness.report.debate.arms import disk_class, technique
from harness.results.group_aggregate import jain, work_rate

# The performance target (TCG, >= 3 guests of 128-192 MiB, phase-shifted mix).
TARGET_RATIO = 1.3
TARGET_FAIRNESS = 0.9
# Budgets this close (relative) count as the same M (rounding of caps to pages).
SAME_BUDGET = 0.02
MIB = 1 << 20


@dataclass
class Policy:
    label: str                  # the kernel entry's label
    mix: str                    # the workload entry's label
    groups: list[RunRecord]     # the group records, one per iteration
    members: dict[str, list[RunRecord]] = field(default_factory=dict)  # by group run id

    @property
    def first_member(self) -> dict:
        return self.members[self.groups[0].run_id][0].data

    @property
    def technique(self) -> str:
        return technique(self.first_member)

    @property
    def name(self) -> str:
        """The policy in the issue's words, from what was in effect."""
        g = self.groups[0].data["group"]["members"]
        if self.technique != "tmem":
            return "static" if self.technique == "disk" else self.technique
        caps = any(m.get("quota_mib") is not None for m in g)
        weights = len({m.get("weight") for m in g}) > 1
        return "tmem " + ("+".join(p for p, on in (("caps", caps), ("weights", weights)) if on)
                          or "shared")

    @property
    def guests(self) -> int:
        return self.groups[0].data["group"]["guests"]

    @property
    def budget_mib(self) -> float:
        """M: the guests' RAM plus, for tmem, the host cap of the pool they share."""
        data = self.groups[0].data
        ram = data["guest"]["memory_mib_total"]
        cap = data["group"]["host"].get("backend_cap_bytes") if self.technique == "tmem" \
            else 0
        return ram + (cap or 0) / MIB

    def mean(self, key: str) -> float | None:
        values = [r.data["result"].get(key) for r in self.groups if r.passed]
        values = [v for v in values if isinstance(v, (int, float))]
        return statistics.fmean(values) if values else None


def _alone_key(data: dict) -> tuple:
    params = {k: v for k, v in data["workload"]["params"].items() if k != "seed"}
    return (data["kernel"].get("spec") or data["kernel"].get("label"),
            data["kernel"].get("cmdline_extra"), data["guest"]["memory_mib"],
            data["workload"]["name"], json.dumps(params, sort_keys=True))


def baselines(runs: list[RunRecord]) -> dict[tuple, float]:
    """Mean whole-workload rate of each single-guest shape that ran alone (passed)."""
    found: dict[tuple, list[float]] = {}
    for run in runs:
        data = run.data
        if run.passed and data.get("kind") != "group" and not _is_member(run):
            rate = work_rate(data.get("result") or {})
            if rate:
                found.setdefault(_alone_key(data), []).append(rate)
    return {k: statistics.fmean(v) for k, v in found.items()}


def _is_member(run: RunRecord) -> bool:
    return "group_member" in run.data


def load(path: Path) -> tuple[object, list[Policy], dict[tuple, float]]:
    results = load_results_dir(path)
    by_id = {r.run_id: r for r in results.runs}
    policies: dict[tuple[str, str], Policy] = {}
    for run in results.runs:
        if run.data.get("kind") != "group":
            continue
        kernel, mix = run.data["kernel"]["label"], run.data["workload"]["label"]
        policy = policies.setdefault((kernel, mix), Policy(kernel, mix, []))
        policy.groups.append(run)
        policy.members[run.run_id] = [by_id[m["run_id"]] for m in run.data["group"]["members"]
                                      if m["run_id"] in by_id]
    if not policies:
        raise UsageError(f"{path}: no group runs (an experiment with group.guests > 1)")
    return results, list(policies.values()), baselines(results.runs)


def guest_rows(policy: Policy, alone: dict[tuple, float]) -> list[dict]:
    """Per guest (by index): mean rate, slowdown vs alone, refusals, peak pool share."""
    rows = []
    for i in range(policy.guests):
        rates, slow, refusals, stored = [], [], [], []
        for group in policy.groups:
            member = group.data["group"]["members"][i]
            record = next((m for m in policy.members[group.run_id]
                           if m.run_id == member["run_id"]), None)
            if member["work_pages_per_sec"]:
                rates.append(member["work_pages_per_sec"])
                base = alone.get(_alone_key(record.data)) if record else None
                if base:
                    slow.append(base / member["work_pages_per_sec"])
            refusals.append(member.get("backend_refusals") or 0)
            stored.append(member.get("backend_stored_bytes_max") or 0)
        rows.append({"guest": i, "rate": statistics.fmean(rates) if rates else None,
                     "slowdown": statistics.fmean(slow) if len(slow) == len(rates) and slow
                     else None,
                     "refusals": max(refusals, default=0),
                     "pool_max_mib": max(stored, default=0) / MIB})
    return rows


def fairness(rows: list[dict]) -> tuple[float | None, str]:
    """Jain's index over rate relative to alone (1/slowdown) when every guest has a
    baseline, else over raw rates; and which one it is."""
    if rows and all(r["slowdown"] for r in rows):
        return jain([1 / r["slowdown"] for r in rows]), "relative to alone"
    rates = [r["rate"] for r in rows]
    if rows and all(rates):
        return jain(rates), "raw rates"
    return None, "n/a"


def headline(policies: list[Policy], alone: dict[tuple, float]) -> list[dict]:
    """Per mix: the shared pool against the static split of the same budget."""
    out = []
    for mix in dict.fromkeys(p.mix for p in policies):
        shared = next((p for p in policies if p.mix == mix and p.name == "tmem shared"), None)
        static = next((p for p in policies if p.mix == mix and p.name == "static"), None)
        if shared is None or static is None:
            continue
        line = {"mix": mix, "shared": shared.label, "static": static.label,
                "budget_mib": [round(shared.budget_mib), round(static.budget_mib)]}
        a, b = shared.mean("work_pages_per_sec"), static.mean("work_pages_per_sec")
        same = abs(shared.budget_mib - static.budget_mib) <= SAME_BUDGET * static.budget_mib
        fair, basis = fairness(guest_rows(shared, alone))
        line.update(ratio=round(a / b, 3) if a and b else None, fairness=fair,
                    fairness_basis=basis, same_budget=same)
        if not same:
            line["verdict"] = "not compared: the budgets differ"
        elif line["ratio"] is None or fair is None:
            line["verdict"] = "not measured: a run failed"
        else:
            met = line["ratio"] >= TARGET_RATIO and fair >= TARGET_FAIRNESS
            line["verdict"] = (f"{'meets' if met else 'misses'} the target (ratio ≥ "
                               f"{TARGET_RATIO}, fairness ≥ {TARGET_FAIRNESS})")
        out.append(line)
    return out


def conditions(policies: list[Policy], results) -> str:
    data = policies[0].first_member
    accel = sorted({p.first_member["guest"]["accel"] for p in policies})
    factors = [m.data.get("dilation", {}).get("factor") for p in policies
               for ms in p.members.values() for m in ms]
    factors = [f for f in factors if f]
    guest = data["guest"]
    disk = disk_class(guest.get("swap_iotune_requested", guest.get("swap_iotune")))
    divisor = (guest.get("swap_iotune_scale") or {}).get("divisor", 1.0)
    slow = (f"; guest CPU {statistics.fmean(factors):.1f}× slower than the host "
            f"(measured in each run)") if factors else ""
    return (f"accelerator: {', '.join(accel)}{slow}; swap disk: {disk}"
            f"{f' dilated ÷{divisor:.1f}' if divisor != 1.0 else ''}; "
            f"vCPUs per guest: {guest.get('vcpus')}; workload: {data['workload']['command']}")


def plot_pool_share(results_path: Path, policy: Policy, out: Path) -> Path | None:
    """Stacked pool share per guest over time (first iteration) and the host RSS."""
    from matplotlib.figure import Figure

    group = policy.groups[0]
    series = read_series(results_path, group.run_id)
    if not series.get("t"):
        return None
    fig = Figure(figsize=(9, 6))
    top, bottom = fig.subplots(2, 1, sharex=True)
    layers = [[v / MIB for v in series.get(f"g{i}_backend_stored_bytes", [])]
              for i in range(policy.guests)]
    t = series["t"]
    if all(len(layer) == len(t) for layer in layers) and any(any(x) for x in layers):
        top.stackplot(t, layers, labels=[f"guest {i}" for i in range(policy.guests)])
    cap = group.data["group"]["host"].get("backend_cap_bytes")
    if cap and policy.technique == "tmem":
        top.axhline(cap / MIB, color="black", linestyle="--", label="host cap")
    top.set_ylabel("host pool held (MiB, stored)")
    top.legend(loc="upper right", fontsize=8)
    top.set_title(f"{policy.label} × {policy.mix}: each guest's share of the host pool")
    if series.get("host_rss_bytes"):
        bottom.plot(t, [v / MIB for v in series["host_rss_bytes"]], label="QEMUs + backend RSS")
        bottom.axhline(policy.budget_mib, color="black", linestyle="--", label="budget M")
    bottom.set_ylabel("host memory (MiB)")
    bottom.set_xlabel("seconds since the group started (boot included)")
    bottom.legend(loc="upper right", fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    return out


def _fmt(value, spec: str = "{:.0f}") -> str:
    return "—" if value is None else spec.format(value)


def headline_lines(report: Path) -> list[str]:
    """The headline bullets of a written OVERCOMMIT.md, for the terminal."""
    return [line[2:].replace("**", "") for line in report.read_text().splitlines()
            if line.startswith("- **")]


def write(results_path: Path, out: Path) -> Path:
    """OVERCOMMIT.md, overcommit.json and plots/ into ``out``; returns the .md path."""
    results, policies, alone = load(results_path)
    lines_head = headline(policies, alone)
    plots = {p.label + "+" + p.mix: plot_pool_share(
        results_path, p, out / "plots" / f"pool-share-{p.label}+{p.mix}.png")
        for p in policies if p.technique == "tmem"}
    md = ["# Many guests, one host pool", "",
          f"Results: `{results_path}`. Conditions: {conditions(policies, results)}.", ""]
    for h in lines_head:
        md.append(f"- **{h['mix']}**: shared pool ({h['shared']}) / static split "
                  f"({h['static']}) = **{_fmt(h['ratio'], '{:.2f}')}×** the whole-workload "
                  f"rate, fairness {_fmt(h['fairness'], '{:.3f}')} ({h['fairness_basis']}); "
                  f"M = {h['budget_mib'][0]} / {h['budget_mib'][1]} MiB → {h['verdict']}")
    md += [""] + [f"![pool share]({p.relative_to(out)})" for p in plots.values() if p] + [""]
    md += ["## Policies", "",
           "| mix | arm | policy | guests × RAM | M (MiB) | runs | rate (pages/s, sum) | "
           "Jain | makespan s | corrupted | host RSS max (MiB) |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    data = {"results": str(results_path), "conditions": conditions(policies, results),
            "headline": lines_head, "policies": []}
    for p in policies:
        rows = guest_rows(p, alone)
        fair, basis = fairness(rows)
        rss = [g.data["group"]["host"].get("host_rss_max_bytes") for g in p.groups]
        rss = [v for v in rss if v]
        ram = p.groups[0].data["guest"]["memory_mib"]
        corrupted = [g.data["result"].get("corrupted_pages") for g in p.groups]
        md.append(f"| {p.mix} | {p.label} | {p.name} | {p.guests} × {ram} | "
                  f"{p.budget_mib:.0f} | {sum(g.passed for g in p.groups)}/{len(p.groups)} | "
                  f"{_fmt(p.mean('work_pages_per_sec'))} | {_fmt(fair, '{:.3f}')} | "
                  f"{_fmt(p.mean('makespan_s'), '{:.1f}')} | "
                  f"{sum(c for c in corrupted if c is not None)} | "
                  f"{_fmt(max(rss) / MIB if rss else None)} |")
        data["policies"].append({"label": p.label, "mix": p.mix, "policy": p.name,
                                 "technique": p.technique, "budget_mib": p.budget_mib,
                                 "guests": rows, "fairness": fair, "fairness_basis": basis,
                                 "work_pages_per_sec": p.mean("work_pages_per_sec"),
                                 "runs": [g.run_id for g in p.groups]})
    md += ["", "## Per guest", "",
           "| mix | arm | guest | rate (pages/s) | slowdown vs alone | backend refusals | "
           "pool held max (MiB) |", "|---|---|---|---|---|---|---|"]
    for p, entry in zip(policies, data["policies"]):
        for row in entry["guests"]:
            md.append(f"| {p.mix} | {p.label} | {row['guest']} | {_fmt(row['rate'])} | "
                      f"{_fmt(row['slowdown'], '{:.2f}×')} | {row['refusals']} | "
                      f"{row['pool_max_mib']:.1f} |")
    md += ["", "Rate: pages the workload touched (first touch, passes, final verify) per "
           "second of those phases. Slowdown: the same guest's rate alone (same kernel, RAM "
           "and params, one guest) over its rate in the group. Jain's index: (Σx)²/(n·Σx²). "
           "M: the guests' RAM plus, for tmem, the backend's host cap."]
    out.mkdir(parents=True, exist_ok=True)
    (out / "overcommit.json").write_text(json.dumps(data, indent=2, default=str))
    path = out / "OVERCOMMIT.md"
    path.write_text("\n".join(md) + "\n")
    return path
