"""Every copy of a page's bytes on tmemlab's tmem path, with its code location, and what
those copies cost against the page's measured round trip.

The ledger follows one 4 KiB page from the guest's page to the host's store (PUT) and
back (GET). A hop is a copy when the bytes are written to new memory by a CPU (memcpy,
copy_to_user/copy_from_user, a socket send or receive); handing a buffer over by address
(QEMU passing the guest's virtqueue buffer to its chardev) is not; compression and
decompression transform the page and are counted apart, as CPU, not copies.

Costs: each copy at the 4 KiB memcpy time measured in the same run on the CPU that does
it (guest hops at the guest's, host hops at the host's: harness/run/dilation.py), so under
TCG the guest hops carry the guest's slowdown as the real guest path would carry its own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hop:
    op: str                 # "put" or "get"
    frm: str
    to: str
    where: str              # code location (file: function)
    host: bool              # done by a host CPU (else by the guest's)
    batching_only: bool = False  # only while the relay packs batches (tmem.batch > 1)


PUT = "put"
GET = "get"
KERNEL = "kernel_configs/patches/6.1/0002 mm/tmem.c"
RELAY = "guest_images/tools/tmem-relay.c"
VCON = "drivers/char/virtio_console.c"
QEMU_VSER = "QEMU hw/char/virtio-serial-bus.c, virtio-console.c, chardev/char-socket.c"

HOPS: tuple[Hop, ...] = (
    Hop(PUT, "guest page", "frontend slot", f"{KERNEL}: tmem store, memcpy_from_page()",
        False),
    Hop(PUT, "frontend slot", "relay buffer", f"{KERNEL}: /dev/tmem read(), copy_to_user()",
        False),
    # With batching on, pack_batches() copies every request frame into packbuf, batched or
    # not; with it off, count_frames() sends the read buffer as it is.
    Hop(PUT, "relay buffer", "pack buffer", f"{RELAY}: pack_batches(), memcpy()", False, True),
    Hop(PUT, "relay buffer", "virtqueue buffer",
        f"{VCON}: port_fops_write(), copy_from_user() into a kmalloc'd buffer", False),
    # QEMU's do_flush_queued_data() hands the guest buffer's address to flush_buf() →
    # qemu_chr_fe_write(): no copy in QEMU; the host kernel copies it into the socket.
    Hop(PUT, "guest memory", "socket buffer",
        f"{QEMU_VSER}: flush_buf() → qemu_chr_fe_write() → sendmsg(), host kernel", True),
    Hop(PUT, "socket buffer", "backend receive buffer",
        "host_backend/connection.py: get_buffer()/buffer_updated() (recv_into)", True),
    Hop(PUT, "receive buffer", "stored page",
        "host_backend/store.py: Store.put(), bytes(page) (lz4 then compresses it)", True),
    Hop(GET, "stored page", "reply frame",
        "host_backend/connection.py: _get(), header + data (after lz4 decompression)", True),
    Hop(GET, "reply frame", "socket buffer", "asyncio transport.write() → send(), host kernel",
        True),
    Hop(GET, "socket buffer", "QEMU buffer",
        f"{QEMU_VSER}: tcp_chr_read() → recvmsg() into a stack buffer", True),
    Hop(GET, "QEMU buffer", "guest virtqueue buffer",
        f"{QEMU_VSER}: chr_read() → virtio_serial_write(), iov_from_buf()", True),
    Hop(GET, "virtqueue buffer", "relay buffer", f"{VCON}: port_fops_read(), copy_to_user()",
        False),
    # Every reply, batched or not, is copied from the port buffer into the kernel buffer.
    Hop(GET, "relay port buffer", "relay kernel buffer", f"{RELAY}: split_reply(), memcpy()",
        False),
    Hop(GET, "relay buffer", "frontend slot", f"{KERNEL}: /dev/tmem write(), copy_from_user()",
        False),
    Hop(GET, "frontend slot", "guest page", f"{KERNEL}: tmem load, memcpy_to_page()", False),
)


def copies(op: str, batching: bool) -> tuple[int, int]:
    """(guest copies, host copies) per page of ``op``."""
    hops = [h for h in HOPS if h.op == op and (batching or not h.batching_only)]
    return sum(not h.host for h in hops), sum(h.host for h in hops)


def batching(data: dict) -> bool:
    """The relay packed batches: tmem.batch > 1 as read back from the guest."""
    params = data.get("guest", {}).get("tmem_parameters") or {}
    return int(params.get("batch", 1) or 1) > 1


def cost(data: dict) -> dict | None:
    """The copy ledger of one run: copies per page and their cost against the round trip.
    None when the run has no tmem round trip or no memcpy measurement."""
    d, s = data.get("deltas", {}), data.get("summary", {})
    dil = data.get("dilation") or {}
    rtt = s.get("tmem_rtt_avg_us")
    try:
        g_ns = dil["guest"]["memcpy"]["ns_per_page"]
        h_ns = dil["host"]["memcpy"]["ns_per_page"]
    except (KeyError, TypeError):
        return None
    if not rtt:
        return None
    out = {"rtt_us": rtt, "guest_memcpy_ns": g_ns, "host_memcpy_ns": h_ns}
    puts, gets = d.get("backend_puts", 0), d.get("backend_gets", 0)
    total_us = 0.0
    for op, pages in ((PUT, puts), (GET, gets)):
        gc, hc = copies(op, batching(data))
        us = (gc * g_ns + hc * h_ns) / 1000
        out[f"{op}_copies"] = gc + hc
        out[f"{op}_pages"] = pages
        out[f"{op}_copy_us"] = round(us, 3)
        total_us += us * pages
    moved = puts + gets
    out["copy_us_per_page"] = round(total_us / moved, 3) if moved else None
    out["copy_share_of_rtt"] = round(total_us / moved / rtt, 4) if moved else None
    return out
