"""libvirt domain XML for one tmemlab guest. Pure: a spec in, XML text out."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
TMEM_CHANNEL = "org.tmemlab.tmem.0"
# A second port to the same backend, its own namespace (workloads.TmemPools).
POOLS_CHANNEL = "org.tmemlab.pools.0"
SWAP_DEV = "vdb"   # the swap disk's target (harness/run/dilation.py retunes it live)
ET.register_namespace("qemu", QEMU_NS)

# libvirt <iotune> children a swap disk may set (values are per second).
IOTUNE_KEYS = ("total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
               "total_iops_sec", "read_iops_sec", "write_iops_sec")


@dataclass
class DomainSpec:
    name: str
    accel: str                      # "kvm" | "tcg"
    memory_mib: int
    vcpus: int
    kernel: Path
    initrd: Path
    cmdline: str
    root_disk: Path | None          # qcow2 overlay over the shared base image
    swap_disk: Path | None          # raw file; None for no disk swap (zram runs)
    console_log: Path
    tmem_socket: Path | None
    ssh_port: int | None
    swap_iotune: dict = field(default_factory=dict)
    swap_cache: str = "none"        # O_DIRECT: the host page cache must not absorb swap I/O
    pools_socket: Path | None = None  # the backend socket behind POOLS_CHANNEL, if any
    data_disk: Path | None = None   # raw, read-only, shared by guests (kernel-build tree)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = str(text)
    return el


def _disk(devices: ET.Element, path: Path, dev: str, fmt: str, cache: str,
          serial: str, iotune: dict, readonly: bool = False) -> None:
    disk = _sub(devices, "disk", type="file", device="disk")
    _sub(disk, "driver", name="qemu", type=fmt, cache=cache,
         **({"io": "native"} if cache == "none" else {}))
    _sub(disk, "source", file=str(path))
    _sub(disk, "target", dev=dev, bus="virtio")
    _sub(disk, "serial", serial)
    if readonly:  # several guests may open it at once: QEMU takes a shared lock
        _sub(disk, "readonly")
    if iotune:
        tune = _sub(disk, "iotune")
        for key in IOTUNE_KEYS:
            if iotune.get(key):
                _sub(tune, key, str(int(iotune[key])))


def domain_xml(spec: DomainSpec) -> str:
    dom = ET.Element("domain", type="kvm" if spec.accel == "kvm" else "qemu")
    _sub(dom, "name", spec.name)
    _sub(dom, "memory", str(spec.memory_mib), unit="MiB")
    _sub(dom, "vcpu", str(spec.vcpus))
    os_el = _sub(dom, "os")
    _sub(os_el, "type", "hvm", arch="x86_64", machine="pc")
    _sub(os_el, "kernel", str(spec.kernel))
    _sub(os_el, "initrd", str(spec.initrd))
    _sub(os_el, "cmdline", spec.cmdline)
    _sub(_sub(dom, "features"), "acpi")
    _sub(dom, "clock", offset="utc")
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        _sub(dom, event, "destroy")
    devices = _sub(dom, "devices")
    if spec.root_disk is not None:
        _disk(devices, spec.root_disk, "vda", "qcow2", "unsafe", "tmemlab-root", {})
    if spec.swap_disk is not None:
        _disk(devices, spec.swap_disk, SWAP_DEV, "raw", spec.swap_cache, "tmemlab-swap",
              spec.swap_iotune)
    if spec.data_disk is not None:  # the guest finds it by its ext4 label, not its name
        _disk(devices, spec.data_disk, "vdc", "raw", "none", "tmemlab-data", {}, readonly=True)
    serial = _sub(devices, "serial", type="file")
    _sub(serial, "source", path=str(spec.console_log))
    _sub(serial, "target", port="0")
    for path, name in ((spec.tmem_socket, TMEM_CHANNEL), (spec.pools_socket, POOLS_CHANNEL)):
        if path is not None:
            channel = _sub(devices, "channel", type="unix")
            source = _sub(channel, "source", mode="connect", path=str(path))
            _sub(source, "reconnect", enabled="yes", timeout="1")
            _sub(channel, "target", type="virtio", name=name)
    _sub(devices, "controller", type="usb", model="none")
    _sub(devices, "memballoon", model="none")
    if spec.ssh_port is not None:
        _user_net(dom, spec.ssh_port)
    ET.indent(dom)
    return ET.tostring(dom, encoding="unicode")


def _user_net(dom: ET.Element, ssh_port: int) -> None:
    # libvirt 9.0 cannot express user-mode port forwarding without passt, so the NIC is
    # passed through; slot 0x1f is one libvirt never assigns on the 'pc' machine.
    # restrict=on: the guest can reach nothing; only the forwarded port reaches it.
    cmd = ET.SubElement(dom, f"{{{QEMU_NS}}}commandline")
    for arg in ("-netdev",
                f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{ssh_port}-:22",
                "-device", "virtio-net-pci,netdev=n0,addr=0x1f"):
        ET.SubElement(cmd, f"{{{QEMU_NS}}}arg", value=arg)
