"""Report stage: what a person reads from recorded runs — compare (statistics, tables,
plots, HTML, KTAP/JUnit, the CI gate), the four-objections debate, the overcommit report and
the soak's figures. Every verdict here is computed from the run records."""
