package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/sim"
)

// Node is one discovery node: exo's UDPDiscovery plus the health-check
// server that stands in for its gRPC server.
type Node struct {
	env    netmodel.Env
	opts   Options
	name   string // task name prefix "discovery/<id>"
	sends  []*sender
	quit   sim.Chan[struct{}] // closed by Close
	wg     sim.WaitGroup      // every task of the node
	ctx    sim.Context        // cancelled by Close: aborts dials
	cancel context.CancelFunc

	listen net.PacketConn // presence datagrams (ListenPort)
	ln     net.Listener   // health server (ServicePort)

	mu          sim.Mutex // everything below
	started     bool      // Start was called
	running     bool      // Start installed its sockets and tasks
	closing     bool
	peers       map[string]*peerEntry
	healthy     bool
	healthDelay time.Duration
	conns       []net.Conn     // health connections in progress (both sides)
	pending     []Event        // events not yet given to OnEvent
	drops       map[string]int // rejected datagrams by reason

	evMu sim.Mutex // one OnEvent delivery at a time
}

// sender is one interface the node broadcasts on.
type sender struct {
	iface   netmodel.Interface
	payload []byte // the encoded presence for this interface
	pc      net.PacketConn
}

// New checks opts and returns a node that is not yet running (call Start).
func New(env netmodel.Env, opts Options) (*Node, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	ifs := env.Net().Interfaces()
	if len(ifs) == 0 {
		return nil, fmt.Errorf("discovery: host %s has no network interface", env.HostName())
	}
	var use []netmodel.Interface
	switch o.Interface {
	case "":
		use = ifs[:1]
		o.Interface = ifs[0].Name
	case AllInterfaces:
		use = ifs
	default:
		for _, i := range ifs {
			if i.Name == o.Interface {
				use = append(use, i)
			}
		}
		if len(use) == 0 {
			return nil, fmt.Errorf("discovery: Options.Interface %q: host %s has no such interface", o.Interface, env.HostName())
		}
	}
	n := &Node{
		env: env, opts: o, name: "discovery/" + o.NodeID,
		quit: sim.NewChan[struct{}](env, 0), wg: env.NewWaitGroup(),
		mu: env.NewMutex(), evMu: env.NewMutex(),
		peers: map[string]*peerEntry{}, healthy: true,
	}
	for _, i := range use {
		prio := o.Priority
		if p, ok := o.InterfacePriorities[i.Name]; ok {
			prio = p
		}
		b, err := EncodePresence(Presence{
			NodeID: o.NodeID, GRPCPort: o.ServicePort, Capabilities: o.Capabilities,
			Priority: prio, InterfaceName: i.Name, InterfaceType: o.InterfaceType,
		})
		if err != nil {
			return nil, fmt.Errorf("discovery: Options: the node's presence: %w", err)
		}
		n.sends = append(n.sends, &sender{iface: i, payload: b})
	}
	return n, nil
}

// ID is the node's id.
func (n *Node) ID() string { return n.opts.NodeID }

// Variant is the node's variant.
func (n *Node) Variant() Variant { return n.opts.Variant }

// Start binds the presence socket on ListenPort (every local address), one
// sending socket per broadcast interface (bound to its address, so the
// presence's source is that interface), and the health server on
// ServicePort, then starts the variant's tasks. On an OS runtime the
// stack's datagram sockets must allow broadcast (SO_BROADCAST).
func (n *Node) Start() error {
	if err := n.markStarted(); err != nil {
		return err
	}
	nt := n.env.Net()
	var (
		ln     net.Listener
		listen net.PacketConn
		pcs    []net.PacketConn
	)
	closeAll := func() {
		if ln != nil {
			_ = ln.Close()
		}
		if listen != nil {
			_ = listen.Close()
		}
		for _, pc := range pcs {
			_ = pc.Close()
		}
	}
	fail := func(what string, err error) error {
		closeAll()
		return fmt.Errorf("discovery: node %s: %s: %w", n.opts.NodeID, what, err)
	}
	var err error
	if ln, err = nt.Listen("tcp", ":"+strconv.Itoa(n.opts.ServicePort)); err != nil {
		return fail("health server", err)
	}
	if listen, err = nt.ListenPacket("udp", ":"+strconv.Itoa(n.opts.ListenPort)); err != nil {
		return fail("listen", err)
	}
	for _, s := range n.sends {
		pc, err := nt.ListenPacket("udp", netip.AddrPortFrom(s.iface.Addr, 0).String())
		if err != nil {
			return fail("broadcast socket on "+s.iface.Name, err)
		}
		pcs = append(pcs, pc)
	}
	if !n.commitStart(ln, listen, pcs) {
		closeAll()
		return ErrClosed
	}
	n.spawn("health", n.acceptLoop)
	switch n.opts.Variant {
	case Blocking:
		n.spawn("loop", n.blockingLoop)
	default:
		n.spawn("broadcast", n.broadcastLoop)
		n.spawn("listen", n.listenLoop)
		n.spawn("cleanup", n.cleanupLoop)
	}
	return nil
}

func (n *Node) markStarted() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return ErrClosed
	}
	if n.started {
		return fmt.Errorf("discovery: node %s already started", n.opts.NodeID)
	}
	n.started = true
	return nil
}

// commitStart installs the sockets unless Close came first (Start yields
// while it binds).
func (n *Node) commitStart(ln net.Listener, listen net.PacketConn, pcs []net.PacketConn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return false
	}
	n.ln, n.listen = ln, listen
	for i, s := range n.sends {
		s.pc = pcs[i]
	}
	n.ctx, n.cancel = n.env.WithCancel(n.env.Background())
	n.running = true
	return true
}

// spawn starts a task of the node, counted in n.wg.
func (n *Node) spawn(name string, fn func()) {
	n.wg.Add(1)
	n.env.Go(n.name+"/"+name, func() {
		defer n.wg.Done()
		fn()
	})
}

// Close stops the node: every socket and health connection closes (which
// also unblocks the Blocking variant's ReadFrom), dials in progress are
// cancelled, and Close returns once every task of the node has ended, so no
// task or timer of the node remains. No event is emitted once Close has
// started. It is idempotent. Do not call it from OnEvent or a hook. A
// host crash already ends the node's tasks; Close on such a node is not
// needed and may hang if the crash killed a task of the node before its
// first step (its WaitGroup count is then never released).
func (n *Node) Close() {
	first, running, conns := n.markClosing()
	if first {
		n.quit.Close()
		if running {
			n.cancel()
			n.closeSockets()
			for _, c := range conns {
				_ = c.Close()
			}
		}
	}
	n.wg.Wait()
}

func (n *Node) markClosing() (first, running bool, conns []net.Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return false, n.running, nil
	}
	n.closing = true
	conns, n.conns = n.conns, nil
	return true, n.running, conns
}

func (n *Node) closeSockets() {
	if n.ln != nil {
		_ = n.ln.Close()
	}
	if n.listen != nil {
		_ = n.listen.Close()
	}
	for _, s := range n.sends {
		if s.pc != nil {
			_ = s.pc.Close()
		}
	}
}

func (n *Node) isClosing() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closing
}

// WaitForPeers is exo's discover_peers(wait_for_peers): it polls every
// 0.1s until at least k peers are known and returns them. After timeout
// it returns the peers it has and an error saying how many; on a closed
// node, ErrClosed. It blocks the calling task.
func (n *Node) WaitForPeers(k int, timeout time.Duration) ([]Peer, error) {
	deadline := n.env.Now().Add(timeout)
	for {
		ps := n.Peers()
		if len(ps) >= k {
			return ps, nil
		}
		if n.isClosing() {
			return ps, ErrClosed
		}
		left := n.env.Until(deadline)
		if left <= 0 {
			return ps, fmt.Errorf("discovery: node %s: %d of %d peers after %v", n.opts.NodeID, len(ps), k, timeout)
		}
		n.env.Sleep(min(100*time.Millisecond, left))
	}
}

// wait pauses the calling task for d; false if the node closed meanwhile.
func (n *Node) wait(d time.Duration) bool {
	tm := n.env.NewTimer(d)
	defer tm.Stop()
	return sim.Select(n.env, sim.RecvCase(tm.C(), nil, nil), sim.RecvCase(n.quit, nil, nil)) == 0
}

// isClosedErr reports whether err comes from a socket closed under a task.
func isClosedErr(err error) bool { return errors.Is(err, net.ErrClosed) }
