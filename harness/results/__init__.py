"""Results stage: the results folder and its run records (docs/RESULTS.md), a group run's
own record from its guests', shards merged into one folder, and the end-of-experiment
summary (summary.md)."""
