"""Test helper: send two router advertisements to ff02::1 out of the named interface."""
import socket, struct, sys

dev = sys.argv[1]
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.SOL_SOCKET, 25, dev.encode())  # SO_BINDTODEVICE
# type 134, code 0, checksum (kernel fills it), hop limit 64, flags 0, router lifetime 1800 s
ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)
for _ in range(2):
    s.sendto(ra, ("ff02::1", 0, 0, socket.if_nametoindex(dev)))
