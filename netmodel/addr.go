package netmodel

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// checkNetwork accepts "udp"/"udp4" or "tcp"/"tcp4" for proto "udp"/"tcp".
func checkNetwork(network, proto string) error {
	if network == proto || network == proto+"4" {
		return nil
	}
	return net.UnknownNetworkError(network + " (the simulated network supports " + proto + " and " + proto + "4)")
}

// splitHostPort parses "host:port" into its parts with a numeric port.
func splitHostPort(address string) (string, uint16, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("address %s: invalid port %q", address, port)
	}
	return host, uint16(p), nil
}

// resolve turns an IP or a simulated host name into an address.
func (n *Network) resolve(host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.Unmap().Is4() {
			return netip.Addr{}, fmt.Errorf("address %s: the simulated network is IPv4 only", host)
		}
		return a.Unmap(), nil
	}
	if h := n.hostNamed[host]; h != nil {
		return h.Addr(), nil
	}
	return netip.Addr{}, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// localBind parses a listen address for h: "" and 0.0.0.0 mean every local
// address (the zero Addr); an IP or host name must be one of h's own.
func (h *Host) localBind(address string) (netip.Addr, uint16, error) {
	host, port, err := splitHostPort(address)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	if host == "" || host == "0.0.0.0" {
		return netip.Addr{}, port, nil
	}
	a, err := h.n.resolve(host)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	if !h.hasAddr(a) {
		return netip.Addr{}, 0, errAddrNotAvail
	}
	return a, port, nil
}

// sourceFor picks h's address for talking to dst: the interface on dst's
// segment (or whose broadcast dst is), else the first.
func (h *Host) sourceFor(dst netip.Addr) netip.Addr {
	for _, i := range h.ifaces {
		if i.Prefix.Contains(dst) {
			return i.Addr
		}
	}
	return h.ifaces[0].Addr
}

// addrPortOf converts a net.Addr given to WriteTo into an AddrPort.
func (n *Network) addrPortOf(a net.Addr) (netip.AddrPort, error) {
	switch v := a.(type) {
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(v.IP)
		if !ok || !ip.Unmap().Is4() {
			return netip.AddrPort{}, fmt.Errorf("address %v: not an IPv4 address", a)
		}
		return netip.AddrPortFrom(ip.Unmap(), uint16(v.Port)), nil
	case nil:
		return netip.AddrPort{}, fmt.Errorf("nil address")
	default:
		host, port, err := splitHostPort(a.String())
		if err != nil {
			return netip.AddrPort{}, err
		}
		ip, err := n.resolve(host)
		if err != nil {
			return netip.AddrPort{}, err
		}
		return netip.AddrPortFrom(ip, port), nil
	}
}
