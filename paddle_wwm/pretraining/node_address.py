"""This node's address on the cluster network: ``--host`` checked against the node's own
addresses, the network interface that holds it (for GLOO_SOCKET_IFNAME / NCCL_SOCKET_IFNAME),
and ``--master HOST:PORT`` parsed and resolved."""
from __future__ import annotations

import fcntl
import ipaddress
import os
import socket
import struct
import subprocess

from .job_channel import JobError

SOCKET_IFNAME_VARIABLES = ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME")
_SIOCGIFADDR = 0x8915


def local_addresses() -> dict[str, str]:
    """{IPv4 address: interface name} of this node (its current network namespace)."""
    try:
        out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return _addresses_by_ioctl()
    found = {}
    for line in out.splitlines():  # "2: eth0    inet 10.0.0.2/24 brd 10.0.0.255 scope global eth0 ..."
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "inet":
            found[fields[3].split("/")[0]] = fields[1].rstrip(":").split("@")[0]
    return found


def _addresses_by_ioctl() -> dict[str, str]:
    """The same without iproute2: the primary IPv4 address of each interface (SIOCGIFADDR)."""
    found = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue  # no IPv4 address on this interface
            found[socket.inet_ntoa(packed[20:24])] = name
    return found


def parse_master(text: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (IPv4 address, port); a name is resolved here, so that a typo fails now."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65535:
        raise JobError(f"--master {text!r}: expected HOST:PORT, e.g. 10.0.0.1:6170")
    try:
        address = socket.gethostbyname(host)
    except OSError as error:
        raise JobError(f"--master {text!r}: cannot resolve {host!r} ({error})") from None
    return address, int(port)


def route_source(destination: str) -> str:
    """The local address this node uses to reach ``destination`` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((destination, 9))
            return sock.getsockname()[0]
        except OSError as error:
            raise JobError(f"no route from this node to the master {destination} ({error})") from None


def node_host(requested: str | None, master_address: str) -> str:
    """This node's address for the job: ``--host`` if given (checked to be ours), else the master's
    address when this is the master node, else the address the route to the master leaves from."""
    addresses = local_addresses()
    if requested is None:
        return master_address if master_address in addresses else route_source(master_address)
    try:
        ipaddress.IPv4Address(requested)
    except ValueError:
        raise JobError(f"--host {requested!r}: expected this node's IPv4 address, one of "
                       f"{', '.join(sorted(addresses)) or 'none found'}") from None
    if requested not in addresses:
        raise JobError(f"--host {requested} is not an address of this node (it has "
                       f"{', '.join(f'{a} on {n}' for a, n in sorted(addresses.items())) or 'none'})")
    return requested


def socket_environment(host: str) -> dict[str, str]:
    """GLOO_SOCKET_IFNAME and NCCL_SOCKET_IFNAME naming the interface that holds ``host``. A value the
    user set is kept (NCCL may use another network than the control one) if it names interfaces that
    exist: NCCL reads "ib" as a prefix (ib0, ib1), "=ib0" as an exact name, "^docker" as an exclusion."""
    names = set(local_addresses().values()) | {name for _, name in socket.if_nameindex()}
    env = {}
    for variable in SOCKET_IFNAME_VARIABLES:
        chosen = os.environ.get(variable)
        if not chosen:
            env[variable] = local_addresses().get(host, "lo")
            continue
        if not chosen.startswith("^"):
            exact = chosen.startswith("=")
            missing = [want for want in chosen.lstrip("=").split(",") if want and not any(
                name == want or (not exact and name.startswith(want)) for name in names)]
            if missing:
                raise JobError(f"{variable}={chosen}: no interface {', '.join(missing)} on this node "
                               f"(it has {', '.join(sorted(names))})")
        env[variable] = chosen
    return env
