package osnet

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/sim"
)

// DefaultPrefix is where node addresses come from by default.
var DefaultPrefix = netip.MustParsePrefix("127.77.0.0/24")

// loopback is the IPv4 loopback range.
var loopback = netip.MustParsePrefix("127.0.0.0/8")

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// Options configure a Network.
type Options struct {
	// Prefix is the loopback prefix the nodes' addresses are taken from,
	// in order from its first host address (zero: DefaultPrefix). It must
	// be IPv4, inside 127.0.0.0/8, and leave room for at least two hosts
	// (/30 or shorter); its last address is the segment's broadcast
	// address.
	Prefix netip.Prefix
	// Segment is the interface name nodes see (netmodel.Interface.Name;
	// zero: "lo").
	Segment string
}

// Network is one segment of nodes on the loopback interface. Its methods
// are safe for concurrent use.
type Network struct {
	env       sim.Env
	prefix    netip.Prefix
	segment   string
	broadcast netip.Addr

	mu     sync.Mutex // everything below
	nodes  []*Node
	byName map[string]*Node
	next   netip.Addr // the next address to hand out
	closed bool
}

// New returns an empty network. env is the OS runtime the nodes' Envs are
// built on (sim/osrt); a simulated Env is refused, since real sockets
// would block outside the simulator.
func New(env sim.Env, opts Options) (*Network, error) {
	if env == nil {
		return nil, fmt.Errorf("osnet: New: env is nil")
	}
	if env.Sim() != nil {
		return nil, fmt.Errorf("osnet: New: env is a simulated World (real sockets block outside the simulator; use netmodel there)")
	}
	p := opts.Prefix
	if !p.IsValid() {
		p = DefaultPrefix
	}
	p = p.Masked()
	switch {
	case !p.Addr().Is4():
		return nil, fmt.Errorf("osnet: Options.Prefix %v is not IPv4", opts.Prefix)
	case p.Bits() < loopback.Bits() || !loopback.Contains(p.Addr()):
		return nil, fmt.Errorf("osnet: Options.Prefix %v is not inside the loopback range %v", opts.Prefix, loopback)
	case p.Bits() > 30:
		return nil, fmt.Errorf("osnet: Options.Prefix %v has room for no two hosts (want /30 or shorter)", opts.Prefix)
	}
	seg := opts.Segment
	if seg == "" {
		seg = "lo"
	}
	return &Network{
		env: env, prefix: p, segment: seg, broadcast: lastAddr(p),
		byName: map[string]*Node{}, next: p.Addr().Next(),
	}, nil
}

// lastAddr is the last address of p (its broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= 1<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Prefix is the segment's prefix.
func (n *Network) Prefix() netip.Prefix { return n.prefix }

// Broadcast is the segment's broadcast address.
func (n *Network) Broadcast() netip.Addr { return n.broadcast }

// AddNode adds a node with the next free address of the prefix and
// returns it. The address is checked by binding a datagram socket to it;
// the error names the address if the system does not route it to the
// loopback interface. Names must be unique and not IP addresses.
func (n *Network) AddNode(name string) (*Node, error) {
	if name == "" {
		return nil, fmt.Errorf("osnet: AddNode: empty node name")
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return nil, fmt.Errorf("osnet: AddNode %q: a node name must not be an IP address", name)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("osnet: AddNode %q: network closed", name)
	}
	if n.byName[name] != nil {
		return nil, fmt.Errorf("osnet: AddNode %q: a node with that name exists", name)
	}
	addr := n.next
	if !n.prefix.Contains(addr) || addr == n.broadcast {
		return nil, fmt.Errorf("osnet: no loopback address available for node %q: the %d host addresses of %v are taken (use a larger prefix)",
			name, len(n.nodes), n.prefix)
	}
	if err := probe(addr); err != nil {
		return nil, fmt.Errorf("osnet: no loopback address available for node %q: %s does not work on loopback (%v); Linux routes all of 127.0.0.0/8 to lo when lo is up, other systems need an alias (e.g. ifconfig lo0 alias %s)",
			name, addr, err, addr)
	}
	n.next = addr.Next()
	nd := &Node{n: n, name: name, addr: addr, socks: map[io.Closer]func() error{}}
	nd.env = &nodeEnv{Env: n.env, nd: nd, log: n.env.Logger().With(slog.String("host", name))}
	n.nodes = append(n.nodes, nd)
	n.byName[name] = nd
	return nd, nil
}

// probe checks that addr works on loopback: a datagram socket bound to it
// reaches itself. Binding alone is not enough: with lo down (a fresh
// network namespace) the bind succeeds and every send fails.
func probe(addr netip.Addr) error {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: addr.AsSlice()})
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.WriteToUDPAddrPort([]byte("osnet probe"), c.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		return err
	}
	if err := c.SetReadDeadline(time.Now().Add(probeTimeout)); err != nil {
		return err
	}
	_, _, err = c.ReadFromUDPAddrPort(make([]byte, 16))
	return err
}

// probeTimeout bounds the probe's round trip (microseconds when it works).
const probeTimeout = 2 * time.Second

// Available is the number of addresses left for new nodes.
func (n *Network) Available() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.prefix.Contains(n.next) {
		return 0
	}
	b, e := n.next.As4(), n.broadcast.As4()
	u := func(a [4]byte) int { return int(a[0])<<24 | int(a[1])<<16 | int(a[2])<<8 | int(a[3]) }
	return u(e) - u(b)
}

// Node returns the node called name, or nil.
func (n *Network) Node(name string) *Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.byName[name]
}

// Nodes lists the nodes in the order they were added.
func (n *Network) Nodes() []*Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.nodes)
}

// addrs lists the nodes' addresses in node order (broadcast targets).
func (n *Network) addrs() []netip.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]netip.Addr, len(n.nodes))
	for i, nd := range n.nodes {
		out[i] = nd.addr
	}
	return out
}

// lookup resolves a node name.
func (n *Network) lookup(name string) (netip.Addr, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if nd := n.byName[name]; nd != nil {
		return nd.addr, true
	}
	return netip.Addr{}, false
}

func (n *Network) isClosed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closed
}

// Close closes every socket of every node; later sockets cannot be
// opened. It returns the number of sockets it closed (those the protocol
// code left open). It is idempotent.
func (n *Network) Close() int {
	n.mu.Lock()
	n.closed = true
	nodes := slices.Clone(n.nodes)
	n.mu.Unlock()
	closed := 0
	for _, nd := range nodes {
		closed += nd.CloseSockets()
	}
	return closed
}

// OpenSockets counts the sockets open on every node.
func (n *Network) OpenSockets() int {
	c := 0
	for _, nd := range n.Nodes() {
		c += nd.OpenSockets()
	}
	return c
}

// Node is one node of a Network: an address and an Env whose Net() opens
// real sockets bound to it.
type Node struct {
	n    *Network
	name string
	addr netip.Addr
	env  *nodeEnv

	mu    sync.Mutex
	socks map[io.Closer]func() error // open sockets and how to close them for real
}

// Name is the node's name.
func (nd *Node) Name() string { return nd.name }

// Addr is the node's loopback address.
func (nd *Node) Addr() netip.Addr { return nd.addr }

// Env is the node's environment handle: the runtime's Env with the node's
// network stack; its tasks are named "<node>/<task>", its random streams
// "<node>/<name>" (as on netmodel hosts), and its logger tags the host.
func (nd *Node) Env() netmodel.Env { return nd.env }

// CloseSockets closes every socket the node has open, as a crash of its
// network stack would (peers of its streams see them reset or closed; its
// tasks see net.ErrClosed); the node can open new ones afterwards. It
// returns how many it closed.
func (nd *Node) CloseSockets() int {
	nd.mu.Lock()
	closers := make([]func() error, 0, len(nd.socks))
	for _, f := range nd.socks {
		closers = append(closers, f)
	}
	clear(nd.socks)
	nd.mu.Unlock()
	for _, f := range closers {
		_ = f()
	}
	return len(closers)
}

// OpenSockets counts the node's open sockets.
func (nd *Node) OpenSockets() int {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return len(nd.socks)
}

// track records an open socket; it fails once the network is closed.
func (nd *Node) track(c io.Closer, closeReal func() error) error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	// Checked under nd.mu: Close marks the network closed before it takes
	// nd.mu to close the node's sockets, so a socket is either closed by it
	// or refused here.
	if nd.n.isClosed() {
		return errNetClosed
	}
	nd.socks[c] = closeReal
	return nil
}

// untrack forgets a socket being closed.
func (nd *Node) untrack(c io.Closer) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	delete(nd.socks, c)
}

// nodeEnv is a node's Env: the runtime's, with its network stack and the
// node's names.
type nodeEnv struct {
	sim.Env
	nd  *Node
	log *slog.Logger
}

var _ netmodel.Env = (*nodeEnv)(nil)

func (e *nodeEnv) Net() netmodel.Stack        { return stack{e.nd} }
func (e *nodeEnv) HostName() string           { return e.nd.name }
func (e *nodeEnv) Go(name string, fn func())  { e.Env.Go(e.nd.name+"/"+name, fn) }
func (e *nodeEnv) Rand(name string) *sim.Rand { return e.Env.Rand(e.nd.name + "/" + name) }
func (e *nodeEnv) Logger() *slog.Logger       { return e.log }
