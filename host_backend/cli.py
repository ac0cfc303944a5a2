"""`tmemlab backend ...` / `python -m host_backend ...`: the one place that talks to the user.

  serve       run the backend (guest sockets, control socket) until SIGTERM/SIGINT/shutdown
  stats       print the backend's stats JSON (from its control socket)
  add-guest   add a guest socket to a running backend
  shutdown    stop a running backend
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

from . import options
from .control import ControlClient, ControlError
from .durable import DurableError
from .server import Backend, BackendConfig, BackendError, GuestSpec
from .store import StoreError


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print usage and exit; we want one line
        raise UsageError(message)


def parse_size(text: str) -> int:
    """The experiment's size rule (host_backend/options.py), as a flag type."""
    try:
        return options.parse_size(text)
    except ValueError as err:
        raise UsageError(str(err)) from None


def parse_guest(text: str, defaults: argparse.Namespace) -> GuestSpec:
    """NAME=PATH[,max_pages=N][,max_bytes=SIZE][,weight=W]"""
    head, *opts = text.split(",")
    name, sep, path = head.partition("=")
    if not sep or not name or not path:
        raise UsageError(f"bad --guest {text!r} (use NAME=PATH[,max_pages=N,...])")
    spec = GuestSpec(name, path, defaults.max_pages, defaults.max_bytes, defaults.weight)
    for opt in opts:
        key, _, value = opt.partition("=")
        if key == "max_pages" and value.isdigit():
            spec.max_pages = int(value)
        elif key == "max_bytes":
            spec.max_bytes = parse_size(value)
        elif key == "weight" and value.isdigit():
            spec.weight = int(value)
        else:
            raise UsageError(f"bad guest option {opt!r} in --guest {text!r}")
    return spec


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tmemlab backend", description="host-side tmem page store")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = sub.add_parser("serve", help="run the backend")
    serve.add_argument("--guest", action="append", default=[], metavar="NAME=PATH[,opt=v]",
                       help="listen for guest NAME on unix socket PATH (repeatable)")
    serve.add_argument("--socket-dir", help="with --guests: listen on DIR/NAME.sock")
    serve.add_argument("--guests", default="", help="comma-separated guest names")
    serve.add_argument("--control", help="control socket path (JSON lines)")
    serve.add_argument("--compression", default="none", choices=options.COMPRESSIONS)
    serve.add_argument("--dedup", action="store_true", help="dedup ephemeral pages")
    serve.add_argument("--cap", type=parse_size, default=None, metavar="SIZE",
                       help="host memory cap for all stored pages, beyond it NO_SPACE "
                            f"(default: {options.DEFAULT_CAP_PERCENT}%% of host RAM, "
                            "MemTotal or the cgroup's memory.max; 0 refuses every page)")
    serve.add_argument("--max-pages", type=int, default=None,
                       help="default guest page quota (default: none, the host cap bounds "
                            "all guests; the harness gives each guest its swap size)")
    serve.add_argument("--max-bytes", type=parse_size, default=None,
                       help="default guest byte quota")
    serve.add_argument("--weight", type=int, default=100, help="default eviction weight")
    serve.add_argument("--durable", metavar="DIR",
                       help="keep persistent pages in LMDB here: an acknowledged page "
                            "survives kill -9 of this process (written before the reply, "
                            "no fsync), not a host crash or power loss")
    serve.add_argument("--durable-sync", action="store_true",
                       help="with --durable: fdatasync before each reply, so an "
                            "acknowledged page also survives a host crash or power loss "
                            "(costs a disk flush per batch of frames read)")
    serve.add_argument("--log-level", default="info",
                       choices=["debug", "info", "warning", "error"])

    for name, help_ in (("stats", "print stats JSON"), ("shutdown", "stop the backend")):
        cmd = sub.add_parser(name, help=help_)
        cmd.add_argument("--control", required=True)

    add = sub.add_parser("add-guest", help="add a guest socket to a running backend")
    add.add_argument("--control", required=True)
    add.add_argument("name")
    add.add_argument("path")
    add.add_argument("--max-pages", type=int)
    add.add_argument("--max-bytes", type=parse_size)
    add.add_argument("--weight", type=int, default=100)
    return parser


def check_options(args: argparse.Namespace) -> options.BackendOptions:
    """The serve flags through the experiment's own BackendOptions rules."""
    if args.durable_sync and not args.durable:
        raise UsageError("--durable-sync needs --durable DIR")
    try:
        return options.check({"compression": args.compression, "cap": args.cap,
                              "max_pages": args.max_pages, "max_bytes": args.max_bytes,
                              "weight": args.weight, "dedup": args.dedup,
                              "durable": bool(args.durable),
                              "durable_sync": args.durable_sync})
    except options.OptionsError as err:
        raise UsageError(f"--{err.field.replace('_', '-')}: {err.reason}") from None


def config_from_args(args: argparse.Namespace) -> BackendConfig:
    check_options(args)
    guests = [parse_guest(g, args) for g in args.guest]
    names = [n for n in args.guests.split(",") if n]
    if names and not args.socket_dir:
        raise UsageError("--guests needs --socket-dir")
    for name in names:
        guests.append(GuestSpec(name, os.path.join(args.socket_dir, f"{name}.sock"),
                                args.max_pages, args.max_bytes, args.weight))
    if not guests and not args.control:
        raise UsageError("nothing to listen on: give --guest, --guests or --control")
    cap = options.default_cap() if args.cap is None else args.cap
    return BackendConfig(args.compression, cap, args.dedup, args.durable, args.control,
                         guests, durable_sync=args.durable_sync)


async def _serve(config: BackendConfig, cap_origin: str) -> None:
    backend = Backend(config)
    # Before start(): whoever started us may signal as soon as a socket exists (the
    # harness, a test), and the default action would leave the sockets behind.
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, backend.request_stop)
    try:
        await backend.start()
        # Once up (a refused start stays one line): the bound every guest shares.
        logging.getLogger("host_backend").info(
            "host cap %s (%d bytes, %s): beyond it every put gets NO_SPACE",
            options.human(config.cap_bytes), config.cap_bytes, cap_origin)
        await backend.wait_stopped()
    finally:
        await backend.close()


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
        config = config_from_args(args)
        origin = "--cap" if args.cap is not None else (
            f"default: {options.DEFAULT_CAP_PERCENT}% of host RAM "
            f"{options.human(options.host_ram_bytes())}; --cap to change")
        asyncio.run(_serve(config, origin))
        return 0
    with ControlClient(args.control).connect() as ctl:
        if args.command == "stats":
            print(json.dumps(ctl.stats(), indent=2))
        elif args.command == "add-guest":
            ctl.add_guest(args.name, args.path, args.max_pages, args.max_bytes, args.weight)
        elif args.command == "shutdown":
            ctl.call("shutdown")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return _run(args)
    except UsageError as exc:
        print(f"tmemlab backend: {exc}", file=sys.stderr)
        return 2
    except (BackendError, ControlError, DurableError, StoreError, ValueError) as exc:
        print(f"tmemlab backend: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
