import xml.etree.ElementTree as ET
from pathlib import Path

from harness.vm.domain import QEMU_NS, TMEM_CHANNEL, DomainSpec, domain_xml


def spec(**overrides) -> DomainSpec:
    base = dict(name="tmemlab-x", accel="tcg", memory_mib=256, vcpus=2,
                kernel=Path("/k/vmlinuz"), initrd=Path("/k/initrd"), cmdline="console=ttyS0",
                root_disk=Path("/w/root.qcow2"), swap_disk=Path("/w/swap.raw"),
                console_log=Path("/w/console.log"), tmem_socket=Path("/w/tmem.sock"),
                ssh_port=2222, swap_iotune={"total_bytes_sec": 1000, "read_iops_sec": 0})
    base.update(overrides)
    return DomainSpec(**base)


def test_tcg_domain_has_every_device_the_runner_needs():
    root = ET.fromstring(domain_xml(spec()))
    assert root.get("type") == "qemu"
    assert root.findtext("memory") == "256" and root.find("memory").get("unit") == "MiB"
    assert root.findtext("vcpu") == "2"
    assert root.findtext("os/kernel") == "/k/vmlinuz"
    assert root.findtext("os/cmdline") == "console=ttyS0"
    disks = {d.find("target").get("dev"): d for d in root.findall("devices/disk")}
    assert disks["vda"].find("driver").get("type") == "qcow2"
    swap = disks["vdb"]
    assert swap.find("driver").get("cache") == "none"  # O_DIRECT: no host page cache
    assert swap.find("driver").get("io") == "native"
    assert swap.findtext("iotune/total_bytes_sec") == "1000"
    assert swap.find("iotune/read_iops_sec") is None  # 0 means unlimited: left out
    channel = root.find("devices/channel")
    assert channel.find("target").get("name") == TMEM_CHANNEL
    assert channel.find("source").get("mode") == "connect"
    assert channel.find("source/reconnect").get("enabled") == "yes"
    assert root.find("devices/serial/source").get("path") == "/w/console.log"
    args = [a.get("value") for a in root.findall(f"{{{QEMU_NS}}}commandline/{{{QEMU_NS}}}arg")]
    assert "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22" in args
    assert root.findtext("on_reboot") == "destroy"


def test_kvm_and_optional_devices():
    root = ET.fromstring(domain_xml(spec(accel="kvm", swap_disk=None, tmem_socket=None,
                                         ssh_port=None, root_disk=None)))
    assert root.get("type") == "kvm"
    assert root.findall("devices/disk") == []
    assert root.find("devices/channel") is None
    assert root.find(f"{{{QEMU_NS}}}commandline") is None


def test_pools_port_is_a_second_channel_to_its_own_socket():
    from harness.vm.domain import POOLS_CHANNEL
    root = ET.fromstring(domain_xml(spec(pools_socket=Path("/w/pools.sock"))))
    channels = {c.find("target").get("name"): c.find("source").get("path")
                for c in root.findall("devices/channel")}
    assert channels == {TMEM_CHANNEL: "/w/tmem.sock", POOLS_CHANNEL: "/w/pools.sock"}
    assert len(ET.fromstring(domain_xml(spec())).findall("devices/channel")) == 1
