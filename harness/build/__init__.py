"""Build stage: guest kernels (distro packages and config: builds over linux-source,
ccache shared per source), the guest image, the kernel-build workload's source tree, and
the content-addressed cache they all live in."""
