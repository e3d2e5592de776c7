"""Where SNS may POST: an egress policy keeping HTTP(S) subscriptions off metadata and link-local addresses.

An HTTP(S) subscription makes the server send requests to an address a tenant chose, so without a policy any
tenant could reach the cloud metadata service or link-local services (SSRF). The rules, in order:

1. Unspecified (0.0.0.0, ::), multicast and broadcast addresses are always refused: none is a real receiver,
   and 0.0.0.0 would reach this machine behind an operator's back.
2. Networks in SAGEMILL_SNS_HTTP_DENIED_NETWORKS are refused.
3. When SAGEMILL_SNS_HTTP_ALLOWED_NETWORKS is set, an address is allowed only inside one of its networks (it
   replaces rule 4: `0.0.0.0/0,::/0` explicitly allows every unicast address, metadata included).
4. Otherwise link-local (169.254.0.0/16, fe80::/10) and the cloud metadata addresses are refused.

Loopback and private networks are allowed by default: single-machine setups and tests run their receivers on
127.0.0.1, and alarm webhooks usually live on the operator's own network. A multi-tenant deployment that must
keep tenants off them lists them in SAGEMILL_SNS_HTTP_DENIED_NETWORKS (or allow-lists what is reachable).
IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are judged as the IPv4 address they carry.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_ENV = "SAGEMILL_SNS_HTTP_ALLOWED_NETWORKS"
DENIED_ENV = "SAGEMILL_SNS_HTTP_DENIED_NETWORKS"

LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
# Instance metadata services: AWS/GCP/Azure/OpenStack's, ECS task credentials, AWS's IPv6 IMDS, Alibaba
# Cloud's and Oracle Cloud's (the last three lie outside link-local, so they are named on their own).
METADATA = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.169.254/32",
        "169.254.170.2/32",
        "fd00:ec2::254/128",
        "100.100.100.200/32",
        "192.0.0.192/32",
    )
)
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


class BadNetworkSetting(ValueError):
    """A CIDR list setting that does not parse; the message names the setting and the entry."""


def parse_networks(text: str | None, setting: str) -> tuple[IpNetwork, ...] | None:
    """A comma-separated CIDR list (None when unset or blank); ValueError names the setting and the entry."""
    if text is None or not text.strip():
        return None
    networks: list[IpNetwork] = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise BadNetworkSetting(
                f"{setting}: {entry!r} is not an IP network (write CIDRs like 10.0.0.0/8)"
            ) from None
    return tuple(networks)


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Which addresses SNS deliveries may connect to; `refusal()` says why one may not."""

    allowed: tuple[IpNetwork, ...] | None = None
    denied: tuple[IpNetwork, ...] = ()

    @classmethod
    def from_settings(cls, allowed: str | None, denied: str | None) -> EgressPolicy:
        return cls(parse_networks(allowed, ALLOWED_ENV), parse_networks(denied, DENIED_ENV) or ())

    def refusal(self, address: IpAddress | str) -> str | None:
        """None when SNS may connect to `address`, else what it is, to follow "<address> is …" (storable)."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.scope_id:  # fe80::1%eth0: judge the address, not the interface
                ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
            ip = ip.ipv4_mapped or ip
        if ip.is_unspecified:
            return "the unspecified address"
        if ip.is_multicast:
            return "a multicast address"
        if ip == _BROADCAST:
            return "the broadcast address"
        if _within(ip, self.denied):
            return f"in a network denied by {DENIED_ENV}"
        if self.allowed is not None:
            return None if _within(ip, self.allowed) else f"outside the networks allowed by {ALLOWED_ENV}"
        if _within(ip, METADATA):
            return "a cloud metadata service address"
        if _within(ip, LINK_LOCAL):
            return "a link-local address"
        return None

    def literal_refusal(self, host: str) -> str | None:
        """Subscribe's check: the refusal of an IP-literal `host`; None for names (checked on delivery)."""
        try:
            ip = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return None
        return self.refusal(ip)


def _within(ip: IpAddress, networks: Iterable[IpNetwork]) -> bool:
    return any(ip.version == network.version and ip in network for network in networks)


DEFAULT_EGRESS = EgressPolicy()
