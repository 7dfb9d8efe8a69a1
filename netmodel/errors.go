package netmodel

import (
	"net"
	"net/netip"
	"os"
	"syscall" //detsim:allow errno values only, so errors match the OS network's
)

// Errors are built as the OS network builds them (*net.OpError wrapping
// os.SyscallError errnos, net.ErrClosed, os.ErrDeadlineExceeded), so code
// that checks errors.Is(err, syscall.ECONNREFUSED) or net.Error.Timeout()
// behaves the same in simulation.
var (
	errRefused      = &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}
	errAddrInUse    = &os.SyscallError{Syscall: "bind", Err: syscall.EADDRINUSE}
	errAddrNotAvail = &os.SyscallError{Syscall: "bind", Err: syscall.EADDRNOTAVAIL}
	errMsgSize      = &os.SyscallError{Syscall: "sendto", Err: syscall.EMSGSIZE}
	errNetUnreach   = &os.SyscallError{Syscall: "sendto", Err: syscall.ENETUNREACH}
)

func errReset(op string) error {
	return &os.SyscallError{Syscall: op, Err: syscall.ECONNRESET}
}

func errTimedOut(op string) error {
	return &os.SyscallError{Syscall: op, Err: syscall.ETIMEDOUT}
}

func opError(op, network string, src, dst net.Addr, err error) error {
	return &net.OpError{Op: op, Net: network, Source: src, Addr: dst, Err: err}
}

func udpAddr(ap netip.AddrPort) *net.UDPAddr {
	return &net.UDPAddr{IP: unmapped(ap.Addr()).AsSlice(), Port: int(ap.Port())}
}

func tcpAddr(ap netip.AddrPort) *net.TCPAddr {
	return &net.TCPAddr{IP: unmapped(ap.Addr()).AsSlice(), Port: int(ap.Port())}
}

// unmapped turns the wildcard (zero Addr) into 0.0.0.0 for display.
func unmapped(a netip.Addr) netip.Addr {
	if !a.IsValid() {
		return netip.IPv4Unspecified()
	}
	return a.Unmap()
}
