"""Attacker's frames for the L2 guard tests (Debian's python3-scapy).

usage: forge.py IFACE KIND [ARG=VALUE ...]   sends COUNT (default 3) frames of KIND out of IFACE.
KINDs: arp-claim (src, ip), na (src, src6, target, lladdr), ra (src), dhcp-offer (src, ip),
dhcp-release / dhcp-decline (src, ip, chaddr, ciaddr, server)."""
import sys

from scapy.all import ARP, BOOTP, DHCP, ICMPv6ND_NA, ICMPv6ND_RA, ICMPv6NDOptDstLLAddr, ICMPv6NDOptPrefixInfo, \
    ICMPv6NDOptSrcLLAddr, IP, IPv6, UDP, Ether, conf, mac2str, sendp

conf.verb = 0
iface, kind = sys.argv[1], sys.argv[2]
a = dict(x.split("=", 1) for x in sys.argv[3:])
count = int(a.get("count", "3"))
BCAST = "ff:ff:ff:ff:ff:ff"


def dhcp_client(msg):
    return (Ether(src=a["src"], dst=BCAST) / IP(src=a["ip"], dst=a["server"]) / UDP(sport=68, dport=67)
            / BOOTP(op=1, ciaddr=a["ciaddr"], chaddr=mac2str(a["chaddr"]) + b"\0" * 10, xid=0x1234)
            / DHCP(options=[("message-type", msg), ("server_id", a["server"]), ("requested_addr", a["ciaddr"]), "end"]))


if kind == "arp-claim":
    f = Ether(src=a["src"], dst=BCAST) / ARP(op=2, hwsrc=a["src"], psrc=a["ip"], hwdst=BCAST, pdst=a["ip"])
elif kind == "na":
    f = (Ether(src=a["src"], dst="33:33:00:00:00:01") / IPv6(src=a["src6"], dst="ff02::1", hlim=255)
         / ICMPv6ND_NA(tgt=a["target"], R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=a["lladdr"]))
elif kind == "ra":
    f = (Ether(src=a["src"], dst="33:33:00:00:00:01") / IPv6(src="fe80::bad", dst="ff02::1", hlim=255)
         / ICMPv6ND_RA(routerlifetime=1800) / ICMPv6NDOptSrcLLAddr(lladdr=a["src"])
         / ICMPv6NDOptPrefixInfo(prefix="2001:db8:bad::", prefixlen=64, L=1, A=1, validlifetime=1800, preferredlifetime=1800))
elif kind == "dhcp-offer":
    f = (Ether(src=a["src"], dst=BCAST) / IP(src=a["ip"], dst="255.255.255.255") / UDP(sport=67, dport=68)
         / BOOTP(op=2, yiaddr="10.66.0.99", siaddr=a["ip"], chaddr=b"\xff" * 16, xid=0x1234)
         / DHCP(options=[("message-type", "offer"), ("server_id", a["ip"]), ("router", a["ip"]), ("lease_time", 3600), "end"]))
elif kind == "dhcp-release":
    f = dhcp_client("release")
elif kind == "dhcp-decline":
    f = dhcp_client("decline")
else:
    sys.exit(f"unknown kind {kind}")
sendp(f, iface=iface, count=count, inter=0.05)
