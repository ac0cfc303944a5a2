"""VM stage: the hypervisor connection and domain XML, the accelerator probe, the guest's
console and SSH, its kernel-log health, ``tmemlab shell``, and the host hygiene that keeps no
QEMU, backend or scratch folder alive past the harness (pre-flight, reaper, leftovers)."""
