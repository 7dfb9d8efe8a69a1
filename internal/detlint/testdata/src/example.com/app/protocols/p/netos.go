package p

import (
	"errors"
	"net"
	"net/netip"
	"os"
)

func netIO() {
	c, err := net.Dial("tcp", "example.com:1") // want `^net\.Dial does real network I/O: use the node's network from the environment handle$`
	_, _ = c, err
	listen := net.Listen                      // want `^net\.Listen does real network I/O`
	_, _ = net.ListenPacket("udp", ":0")      // want `net\.ListenPacket does real network I/O`
	_, _ = net.LookupHost("example.com")      // want `net\.LookupHost does real network I/O`
	_, _ = net.ResolveUDPAddr("udp", "x:1")   // want `net\.ResolveUDPAddr does real network I/O`
	_, _ = net.InterfaceAddrs()               // want `net\.InterfaceAddrs does real network I/O`
	a, b := net.Pipe()                        // want `net\.Pipe does real network I/O`
	d := &net.Dialer{Timeout: 1}              // want `^net\.Dialer does real network I/O`
	var lc net.ListenConfig                   // want `net\.ListenConfig does real network I/O`
	var r *net.Resolver = net.DefaultResolver // want `net\.Resolver does real` `net\.DefaultResolver does real`
	_, _ = d.Dial("tcp", "x:1")               // methods: already reported at the Dialer
	_, _, _, _, _ = listen, a, b, lc, r
}

// Types, addresses, pure helpers, error values and net/netip are fine: a
// simulated network speaks the same types.
func netAllowed(conn net.Conn, pc net.PacketConn, l net.Listener, addr net.Addr, err error) bool {
	_ = net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	var _ *net.TCPAddr
	var _ net.IP = net.ParseIP("::1")
	var _ *net.OpError
	_ = netip.MustParseAddrPort("127.0.0.1:1")
	return errors.Is(err, net.ErrClosed)
}

func osIO() {
	_ = os.Getenv("HOME")       // want `^os\.Getenv is outside the simulation: pass it in through the environment or scenario parameters$`
	_, _ = os.ReadFile("x")     // want `^os\.ReadFile is outside the simulation`
	_ = os.Args                 // want `^os\.Args is outside the simulation`
	_, _ = os.Stdout.Write(nil) // want `^os\.Stdout is outside the simulation`
	exit := os.Exit             // want `^os\.Exit is outside the simulation`
	_ = exit
}

// os types, constants, error values and error predicates are fine.
func osAllowed(err error, f *os.File) bool {
	var _ os.FileMode = os.ModePerm | os.ModeDir
	_ = os.O_RDONLY | os.O_CREATE
	_ = errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrDeadlineExceeded)
	return os.IsNotExist(err) || os.IsExist(err) || os.IsPermission(err) || os.IsTimeout(err)
}
