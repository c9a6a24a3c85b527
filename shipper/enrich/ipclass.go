package enrich

import (
	"bytes"
	"net/netip"
	"unsafe"
)

// Values of exim.source.ip_class.
const (
	IPPublic        = "public"
	IPPrivate       = "private"
	IPLoopback      = "loopback"
	IPDocumentation = "documentation"
	IPLinkLocal     = "link_local"
	IPShared        = "shared"
	IPMulticast     = "multicast"
	IPUnspecified   = "unspecified"
	IPReserved      = "reserved"
)

type prefixClass struct {
	prefix netip.Prefix
	class  string
}

func pc(p, class string) prefixClass { return prefixClass{netip.MustParsePrefix(p), class} }

// The IANA IPv4 and IPv6 Special-Purpose Address Registries
// (https://www.iana.org/assignments/iana-ipv4-special-registry,
// https://www.iana.org/assignments/iana-ipv6-special-registry), most
// specific first. Blocks the registries mark globally reachable (AS112,
// AMT, TURN anycast, ORCHIDv2, 6to4, Teredo, NAT64's well-known prefix)
// stay public; every other special block that is not private, shared,
// loopback, link-local, documentation, multicast or unspecified is
// reserved.
var ipv4Classes = []prefixClass{
	pc("0.0.0.0/32", IPUnspecified),        // RFC 1122 "this host"
	pc("0.0.0.0/8", IPReserved),            // RFC 791 "this network"
	pc("10.0.0.0/8", IPPrivate),            // RFC 1918
	pc("100.64.0.0/10", IPShared),          // RFC 6598 shared address space (CGN)
	pc("127.0.0.0/8", IPLoopback),          // RFC 1122
	pc("169.254.0.0/16", IPLinkLocal),      // RFC 3927
	pc("172.16.0.0/12", IPPrivate),         // RFC 1918
	pc("192.0.0.9/32", IPPublic),           // RFC 7723 PCP anycast (globally reachable)
	pc("192.0.0.10/32", IPPublic),          // RFC 8155 TURN anycast (globally reachable)
	pc("192.0.0.0/24", IPReserved),         // RFC 6890 IETF protocol assignments
	pc("192.0.2.0/24", IPDocumentation),    // RFC 5737 TEST-NET-1
	pc("192.88.99.0/24", IPReserved),       // RFC 7526 deprecated 6to4 relay anycast
	pc("192.168.0.0/16", IPPrivate),        // RFC 1918
	pc("198.18.0.0/15", IPReserved),        // RFC 2544 benchmarking
	pc("198.51.100.0/24", IPDocumentation), // RFC 5737 TEST-NET-2
	pc("203.0.113.0/24", IPDocumentation),  // RFC 5737 TEST-NET-3
	pc("224.0.0.0/4", IPMulticast),         // RFC 5771
	pc("240.0.0.0/4", IPReserved),          // RFC 1112 reserved, incl. 255.255.255.255 limited broadcast (RFC 919)
}

var ipv6Classes = []prefixClass{
	pc("::/128", IPUnspecified),          // RFC 4291
	pc("::1/128", IPLoopback),            // RFC 4291
	pc("64:ff9b::/96", IPPublic),         // RFC 6052 IPv4/IPv6 translation (globally reachable)
	pc("64:ff9b:1::/48", IPReserved),     // RFC 8215 local-use translation
	pc("100::/64", IPReserved),           // RFC 6666 discard-only
	pc("100:0:0:1::/64", IPReserved),     // RFC 9780 dummy prefix
	pc("2001::/32", IPPublic),            // RFC 4380 Teredo
	pc("2001:1::1/128", IPPublic),        // RFC 7723 PCP anycast
	pc("2001:1::2/128", IPPublic),        // RFC 8155 TURN anycast
	pc("2001:1::3/128", IPPublic),        // RFC 9665 DNS-SD SRP anycast
	pc("2001:3::/32", IPPublic),          // RFC 7450 AMT
	pc("2001:4:112::/48", IPPublic),      // RFC 7535 AS112-v6
	pc("2001:20::/28", IPPublic),         // RFC 7343 ORCHIDv2
	pc("2001:30::/28", IPPublic),         // RFC 9374 drone remote ID
	pc("2001:db8::/32", IPDocumentation), // RFC 3849
	pc("2001::/23", IPReserved),          // RFC 2928 IETF protocol assignments (benchmarking 2001:2::/48, ORCHID 2001:10::/28 ...)
	pc("2002::/16", IPPublic),            // RFC 3056 6to4
	pc("3fff::/20", IPDocumentation),     // RFC 9637
	pc("5f00::/16", IPReserved),          // RFC 9602 SRv6 SIDs
	pc("fc00::/7", IPPrivate),            // RFC 4193 unique local
	pc("fe80::/10", IPLinkLocal),         // RFC 4291 link-local unicast
	pc("ff00::/8", IPMulticast),          // RFC 4291
}

// globalUnicast is the only IPv6 block IANA allocates for global unicast
// (IPv6 Address Space registry); the rest is reserved by the IETF.
var globalUnicast = netip.MustParsePrefix("2000::/3")

// IPClass returns the exim.source.ip_class of a: which special-purpose
// range it belongs to, or "public". An IPv4-mapped IPv6 address is
// classified as its IPv4 address. The zero Addr gives "".
func IPClass(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	a = a.Unmap()
	table := ipv6Classes
	if a.Is4() {
		table = ipv4Classes
	}
	for _, c := range table {
		if c.prefix.Contains(a) {
			return c.class
		}
	}
	if a.Is6() && !globalUnicast.Contains(a) {
		return IPReserved
	}
	return IPPublic
}

// parseIP parses an IPv4 or IPv6 address without a zone, without copying
// b (netip keeps no reference to its input but a zone's, refused here).
func parseIP(b []byte) (netip.Addr, bool) {
	if len(b) == 0 || len(b) > 45 || bytes.IndexByte(b, '%') >= 0 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(b), len(b)))
	return a, err == nil
}
