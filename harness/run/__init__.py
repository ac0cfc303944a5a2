"""Run stage: one run (or a group of guests) from boot to verdict: the host tmem backend,
the workloads, the monitors and their parsers, the settings-in-effect and failure checks,
fault injection, the watchdog, and the TCG dilation measurement."""
