"""tmemlab shell's OpenSSH invocation (the guest side is tests/e2e/test_shell_e2e.py)."""

from pathlib import Path

from harness.vm import shell


def test_ssh_argv_pins_the_key_and_the_host_key_and_never_prompts():
    argv = shell.ssh_argv(2222, Path("/k/id"), Path("/k/known"), tty=True)
    assert argv[:5] == ["ssh", "-i", "/k/id", "-p", "2222"]
    for option in ("UserKnownHostsFile=/k/known", "StrictHostKeyChecking=yes",
                   "IdentitiesOnly=yes", "BatchMode=yes"):
        assert option in argv
    assert "-t" in argv and argv[-1] == "root@127.0.0.1"
    piped = shell.ssh_argv(2222, Path("/k/id"), Path("/k/known"), tty=False, command=["ls"])
    assert "-T" in piped and piped[-2:] == ["root@127.0.0.1", "ls"]


def test_known_hosts_line_names_the_forwarded_port():
    assert shell.known_hosts_line(2222, "ssh-ed25519 AAAAC3Nz root@tmemlab\n") == \
        "[127.0.0.1]:2222 ssh-ed25519 AAAAC3Nz\n"
