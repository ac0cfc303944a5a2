"""Suite-wide settings. This machine (and CI's) has 2 cores shared with QEMU guests and
kernel builds: hypothesis deadlines measure that noise, not the code, so they are off."""

from hypothesis import settings

settings.register_profile("tmemlab", deadline=None)
settings.load_profile("tmemlab")
