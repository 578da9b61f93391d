#!/bin/sh
# netlet installer: one binary, its configuration file and a systemd unit.
#
#   curl -fsSL "$NETLET_BASE_URL/install.sh" | NETLET_BASE_URL=... sh
#   sh install.sh --from ./netlet-linux-x64        # a local file (checks FILE.sha256 if present)
#   sh install.sh --uninstall [--purge]
#
# Every step compares before it writes, so running it again changes nothing and says so.
# POSIX sh only: it must run on a bare Debian/Ubuntu/RHEL host before anything else is there.
set -eu

PREFIX=/usr/local
FROM=
MODE=install
PURGE=0
LIBVIRT_HOOK=0
DESTDIR=${DESTDIR:-}
BASE_URL=${NETLET_BASE_URL:-}
CHANGED=0
TMP=

say() { printf '%s\n' "netlet-install: $*"; }
die() { printf '%s\n' "netlet-install: error: $*" >&2; exit 1; }

usage() {
	cat <<'EOF'
usage: install.sh [--from FILE] [--prefix DIR] [--libvirt-hook] [--uninstall [--purge]] [--help]

Installs netlet on Linux (x86_64 or aarch64):
  PREFIX/bin/netlet                      the binary (default PREFIX /usr/local)
  /etc/netlet/netlet.conf                from `netlet config sample`, only if absent
  /etc/systemd/system/netlet.service     the systemd unit (state in /var/lib/netlet)

The binary comes from $NETLET_BASE_URL/netlet-linux-<arch> and is refused unless it matches
$NETLET_BASE_URL/netlet-linux-<arch>.sha256. With --from FILE a local binary is installed
instead; FILE.sha256 next to it is checked when it exists.

options:
  --from FILE     install this binary instead of downloading one
  --prefix DIR    install the binary to DIR/bin (default /usr/local)
  --libvirt-hook  also install netlet's libvirt hook (/etc/libvirt/hooks/qemu, chaining an
                  existing one), so libvirt domains on netlet bridges become instances by
                  themselves; without it the installer names the command when libvirt is present
  --uninstall     stop the agent, remove what it added to the host (netlet dataplane flush),
                  the binary, the unit and netlet's libvirt hook (restoring a hook it chained);
                  keep /etc/netlet and /var/lib/netlet
  --purge         with --uninstall: also remove /etc/netlet and /var/lib/netlet
  --help          show this help

environment:
  NETLET_BASE_URL   where netlet-linux-<arch> and its .sha256 are published
  DESTDIR           install under this root instead of / (packaging and tests; no systemctl)
EOF
}

while [ $# -gt 0 ]; do
	case $1 in
	--from) [ $# -ge 2 ] || die "--from needs a FILE"; FROM=$2; shift 2 ;;
	--from=*) FROM=${1#--from=}; shift ;;
	--prefix) [ $# -ge 2 ] || die "--prefix needs a DIR"; PREFIX=$2; shift 2 ;;
	--prefix=*) PREFIX=${1#--prefix=}; shift ;;
	--libvirt-hook) LIBVIRT_HOOK=1; shift ;;
	--uninstall) MODE=uninstall; shift ;;
	--purge) PURGE=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument \"$1\"; see --help" ;;
	esac
done
[ "$PURGE" = 0 ] || [ "$MODE" = uninstall ] || die "--purge goes with --uninstall"
case $PREFIX in /*) ;; *) die "--prefix must be an absolute path, not \"$PREFIX\"" ;; esac

BIN=$DESTDIR$PREFIX/bin/netlet
CONF_DIR=$DESTDIR/etc/netlet
CONF=$CONF_DIR/netlet.conf
UNIT=$DESTDIR/etc/systemd/system/netlet.service
STATE_DIR=$DESTDIR/var/lib/netlet
HOOKS_DIR=$DESTDIR/etc/libvirt/hooks

cleanup() { [ -z "$TMP" ] || rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# systemctl only on the live root of a host that booted with systemd.
systemd_live() { [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

detect_platform() {
	os=$(uname -s)
	[ "$os" = Linux ] || die "netlet runs on Linux only; this system is $os"
	case $(uname -m) in
	x86_64 | amd64) ARCH=x64 ;;
	aarch64 | arm64) ARCH=arm64 ;;
	*) die "no netlet build for architecture $(uname -m); builds exist for x86_64 and aarch64" ;;
	esac
}

sha256_of() {
	if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
	elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
	else die "neither sha256sum nor shasum is installed; cannot verify the binary"
	fi
}

# verify FILE SUMFILE: the first word of SUMFILE must be FILE's SHA-256.
verify() {
	want=$(sed -n '1s/[[:space:]].*//p' "$2" | tr 'A-F' 'a-f')
	case $want in
	*[!0-9a-f]* | "") die "$2 holds no SHA-256 checksum; nothing installed" ;;
	esac
	[ ${#want} -eq 64 ] || die "$2 holds no SHA-256 checksum; nothing installed"
	got=$(sha256_of "$1")
	[ "$got" = "$want" ] || die "checksum mismatch for $3: expected $want, got $got; nothing installed"
	say "checksum ok ($got)"
}

fetch() {
	# A stalled server aborts the download (under 1 KB/s for 30 s) instead of hanging forever.
	if command -v curl >/dev/null 2>&1; then curl -fsSL --connect-timeout 20 --speed-limit 1024 --speed-time 30 -o "$2" "$1"
	elif command -v wget >/dev/null 2>&1; then wget -q -T 30 -O "$2" "$1"
	else die "neither curl nor wget is installed"
	fi
}

# Puts a verified, runnable binary at $TMP/netlet.
obtain_binary() {
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/netlet-install.XXXXXX")
	if [ -n "$FROM" ]; then
		[ -f "$FROM" ] || die "--from $FROM: no such file"
		cp "$FROM" "$TMP/netlet"
		if [ -f "$FROM.sha256" ]; then verify "$TMP/netlet" "$FROM.sha256" "$FROM"
		else say "warning: no $FROM.sha256 next to $FROM; installing it unverified"
		fi
	else
		[ -n "$BASE_URL" ] || die "set NETLET_BASE_URL to where netlet-linux-$ARCH is published, or use --from FILE"
		name=netlet-linux-$ARCH
		url=${BASE_URL%/}/$name
		say "downloading $url"
		fetch "$url" "$TMP/netlet" || die "download of $url failed; nothing installed"
		fetch "$url.sha256" "$TMP/netlet.sha256" || die "download of $url.sha256 failed; refusing an unverified binary"
		verify "$TMP/netlet" "$TMP/netlet.sha256" "$name"
	fi
	chmod 0755 "$TMP/netlet"
	version=$("$TMP/netlet" --version 2>/dev/null) || die "the binary does not run on this host (wrong architecture or corrupt); nothing installed"
	say "got $version"
}

same_content() {
	if command -v cmp >/dev/null 2>&1; then cmp -s "$1" "$2"
	else [ "$(sha256_of "$1")" = "$(sha256_of "$2")" ]
	fi
}

# put SRC DEST MODE: replace DEST atomically unless it already has SRC's content.
put() {
	if [ -f "$2" ] && same_content "$1" "$2"; then
		say "$2 is up to date"
		return 0
	fi
	mkdir -p "$(dirname "$2")"
	cp "$1" "$2.new.$$"
	chmod "$3" "$2.new.$$"
	mv -f "$2.new.$$" "$2"
	say "installed $2"
	CHANGED=1
}

unit_text() {
	cat <<EOF
# netlet: DHCPv4, IPv6 RA, metadata, nftables and gossip for this hypervisor's instances.
# Installed by install.sh (see docs/operations.md); local changes belong in a drop-in
# (systemctl edit netlet), which a re-install leaves alone.
[Unit]
Description=netlet network agent (nova-network multi_host)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=$PREFIX/bin/netlet agent
# SIGHUP re-reads the configuration; options that need a restart are named in the log.
ExecReload=/bin/kill -HUP \$MAINPID
Restart=on-failure
RestartSec=2s
# A stop (not a restart or upgrade) withdraws the guests' IPv6 routes first (router lifetime 0):
# agent-stop asks systemd which job runs for the unit. Then systemd sends SIGTERM, which keeps
# them; this bounds how long both may take.
ExecStop=-$PREFIX/bin/netlet agent-stop
TimeoutStopSec=30s
AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE
# /var/lib/netlet holds the SQLite store and the cluster keys; /run/netlet the admin socket.
StateDirectory=netlet
StateDirectoryMode=0700
RuntimeDirectory=netlet
RuntimeDirectoryMode=0755
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
EOF
}

install_all() {
	detect_platform
	[ -n "$DESTDIR" ] || [ "$(id -u)" = 0 ] || die "run as root (or set DESTDIR to install under another root)"
	obtain_binary
	put "$TMP/netlet" "$BIN" 0755
	if [ -f "$CONF" ]; then
		say "$CONF exists; kept as it is"
	else
		"$TMP/netlet" config sample >"$TMP/netlet.conf" || die "netlet config sample failed"
		mkdir -p "$CONF_DIR"
		put "$TMP/netlet.conf" "$CONF" 0644
	fi
	unit_text >"$TMP/netlet.service"
	before=$CHANGED
	CHANGED=0
	put "$TMP/netlet.service" "$UNIT" 0644
	if [ "$CHANGED" = 1 ] && systemd_live; then
		systemctl daemon-reload
		say "systemctl daemon-reload done"
	fi
	[ "$before" = 0 ] || CHANGED=1
	libvirt_hook
	if [ "$CHANGED" = 0 ]; then
		say "$version is already installed; nothing changed"
	else
		say "done. Edit $CONF, then run: netlet config check; netlet doctor; systemctl enable --now netlet"
	fi
}

# libvirt's hook: installed by the binary itself (`netlet libvirt install`, idempotent).
libvirt_hook() {
	if [ "$LIBVIRT_HOOK" = 1 ]; then
		out=$("$BIN" libvirt install --hooks-dir "$HOOKS_DIR" --binary "$PREFIX/bin/netlet") || die "netlet libvirt install failed"
		printf '%s\n' "$out" | while IFS= read -r line; do say "libvirt: $line"; done
		case $out in *"already installed"*) ;; *) CHANGED=1 ;; esac
	elif [ -d "$DESTDIR/etc/libvirt" ] && ! grep -qs '^# netlet-libvirt-hook' "$HOOKS_DIR/qemu"; then
		say "libvirt is present: run install.sh --libvirt-hook (or netlet libvirt install) so its domains on netlet bridges become instances"
	fi
}

remove_libvirt_hook() {
	grep -qs '^# netlet-libvirt-hook' "$HOOKS_DIR/qemu" || return 0
	remove "$HOOKS_DIR/qemu"
	if [ -e "$HOOKS_DIR/qemu.pre-netlet" ]; then
		mv "$HOOKS_DIR/qemu.pre-netlet" "$HOOKS_DIR/qemu"
		say "restored the hook netlet had chained as $HOOKS_DIR/qemu"
	fi
}

remove() {
	if [ -e "$1" ]; then
		rm -rf "$1"
		say "removed $1"
		CHANGED=1
	fi
}

uninstall_all() {
	[ -n "$DESTDIR" ] || [ "$(id -u)" = 0 ] || die "run as root (or set DESTDIR)"
	if systemd_live && [ -f "$UNIT" ]; then
		systemctl disable --now netlet.service >/dev/null 2>&1 || true
	fi
	# The stopped agent left its tables, addresses and bridges in place (on purpose, for
	# restarts): take them away while the binary that knows them is still here.
	if [ -z "$DESTDIR" ] && [ -x "$BIN" ]; then
		"$BIN" dataplane flush >/dev/null 2>&1 || echo "warning: netlet dataplane flush failed; run it by hand before removing state" >&2
	fi
	remove_libvirt_hook
	remove "$BIN"
	remove "$UNIT"
	if systemd_live; then systemctl daemon-reload; fi
	if [ "$PURGE" = 1 ]; then
		remove "$CONF_DIR"
		remove "$STATE_DIR"
	else
		for d in "$CONF_DIR" "$STATE_DIR"; do
			[ ! -e "$d" ] || say "kept $d (--purge removes it)"
		done
	fi
	[ "$CHANGED" = 1 ] || say "netlet is not installed; nothing changed"
}

if [ "$MODE" = uninstall ]; then uninstall_all; else install_all; fi
