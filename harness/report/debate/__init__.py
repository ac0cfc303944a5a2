"""``tmemlab debate``: the four 2011 objections to frontswap and the Xen tmem claim,
each measured by experiments/debate/ and given a verdict computed from the runs.

arms.py (what each results column is, from its records) → verdicts.py (one finding per
claim) → report.py (DEBATE.md, debate.html, debate.json, plots); run.py runs the
experiments and writes the report.
"""
