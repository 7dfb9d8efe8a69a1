package netmodel

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/detsim/detsim/sim"
)

// Options configure a Network. Zero fields take the documented defaults.
type Options struct {
	// MaxDatagram is the largest datagram payload in bytes; a larger write
	// is an error at the sender. 0 means 65507 (IPv4 UDP).
	MaxDatagram int
	// SocketQueue is how many datagrams a socket queues before dropping
	// (counted as DropQueueFull). 0 means 1024.
	SocketQueue int
	// SendBuffer bounds the bytes one direction of a stream holds, sent but
	// not yet read by the peer; a writer blocks when it is full. 0 means
	// 256 KiB.
	SendBuffer int
	// Backlog is how many established connections a listener queues before
	// new SYNs are dropped. 0 means 128.
	Backlog int
	// ConnectTimeout bounds a dial with no deadline of its own; SYNs are
	// retransmitted after 1s, 2s, 4s, ... as Linux does. 0 means 127s.
	ConnectTimeout time.Duration
	// UserTimeout is how long a stream segment may go unacknowledged
	// (partition, crashed peer, heavy loss) before the connection breaks
	// with "connection timed out" (TCP_USER_TIMEOUT). 0 means 60s.
	UserTimeout time.Duration
	// MinRTO and MaxRTO bound the retransmission delay of a lost or
	// undeliverable stream segment, which doubles from MinRTO. 0 means
	// 200ms and 30s.
	MinRTO, MaxRTO time.Duration
	// EphemeralMin and EphemeralMax bound the ports given to unbound
	// sockets and dials. 0 means 32768 and 60999 (Linux).
	EphemeralMin, EphemeralMax uint16
	// Default is the link between hosts that share no segment (a segment's
	// own link is the one given to AddSegment, used as given). nil means
	// DefaultLink.
	Default *Link
}

func (o *Options) fill() error {
	if o.MaxDatagram < 0 || o.SocketQueue < 0 || o.SendBuffer < 0 || o.Backlog < 0 {
		return fmt.Errorf("netmodel: Options: MaxDatagram, SocketQueue, SendBuffer and Backlog must be >= 0")
	}
	if o.ConnectTimeout < 0 || o.UserTimeout < 0 || o.MinRTO < 0 || o.MaxRTO < 0 {
		return fmt.Errorf("netmodel: Options: ConnectTimeout, UserTimeout, MinRTO and MaxRTO must be >= 0")
	}
	o.MaxDatagram = cmp.Or(o.MaxDatagram, 65507)
	o.SocketQueue = cmp.Or(o.SocketQueue, 1024)
	o.SendBuffer = cmp.Or(o.SendBuffer, 256<<10)
	o.Backlog = cmp.Or(o.Backlog, 128)
	o.ConnectTimeout = cmp.Or(o.ConnectTimeout, 127*time.Second)
	o.UserTimeout = cmp.Or(o.UserTimeout, 60*time.Second)
	o.MinRTO = cmp.Or(o.MinRTO, 200*time.Millisecond)
	o.MaxRTO = cmp.Or(o.MaxRTO, 30*time.Second)
	o.EphemeralMin = cmp.Or(o.EphemeralMin, 32768)
	o.EphemeralMax = cmp.Or(o.EphemeralMax, 60999)
	if o.EphemeralMin > o.EphemeralMax {
		return fmt.Errorf("netmodel: Options: ephemeral port range %d-%d is inverted", o.EphemeralMin, o.EphemeralMax)
	}
	if o.MinRTO > o.MaxRTO {
		return fmt.Errorf("netmodel: Options: MinRTO %v > MaxRTO %v", o.MinRTO, o.MaxRTO)
	}
	if o.Default == nil {
		l := DefaultLink
		o.Default = &l
	}
	if err := o.Default.Validate(); err != nil {
		return fmt.Errorf("netmodel: Options.Default: %w", err)
	}
	return nil
}

// Network is a simulated network on one World.
type Network struct {
	w    *sim.World
	opts Options

	segments  []*segment
	hosts     []*Host
	hostNamed map[string]*Host
	hostAt    map[netip.Addr]*Host
	links     map[linkKey]*linkState

	// cut holds directed host pairs that cannot communicate (partitions,
	// one-way cuts, isolation); flapDown holds links a Flap has taken down.
	cut      map[linkKey]bool
	flapDown map[linkKey]bool

	// obs, if not nil, is told every packet and fault (observe.go);
	// lastID numbers the observed packets.
	obs    func(Event)
	lastID uint64

	// defLink and loopLink are the configurations links share when no
	// segment gives one (a copy of Options.Default) and from a host to
	// itself (no latency, no faults).
	defLink, loopLink Link

	// Free lists of the events that carry packets, so that a packet in
	// flight allocates no callback (sim.ScheduleCall).
	segFree []*segArrival
	dgFree  []*dgArrival
}

type segment struct {
	name      string
	prefix    netip.Prefix
	broadcast netip.Addr
	link      Link
	hosts     []*Host
}

type linkKey struct{ from, to int }

// New returns an empty network on w.
func New(w *sim.World, opts Options) (*Network, error) {
	if w == nil {
		return nil, fmt.Errorf("netmodel: New: nil World")
	}
	if err := opts.fill(); err != nil {
		return nil, err
	}
	return &Network{
		w: w, opts: opts, defLink: *opts.Default,
		hostNamed: map[string]*Host{}, hostAt: map[netip.Addr]*Host{},
		links: map[linkKey]*linkState{}, cut: map[linkKey]bool{}, flapDown: map[linkKey]bool{},
	}, nil
}

// World returns the World the network runs on.
func (n *Network) World() *sim.World { return n.w }

// AddSegment adds a named IPv4 segment (an L2 broadcast domain) whose hosts
// get addresses in prefix and talk over link by default. The segment's
// broadcast address is the last address of the prefix.
func (n *Network) AddSegment(name string, prefix netip.Prefix, link Link) error {
	if name == "" {
		return fmt.Errorf("netmodel: AddSegment: empty name")
	}
	if n.segment(name) != nil {
		return fmt.Errorf("netmodel: AddSegment: segment %q already exists", name)
	}
	if !prefix.IsValid() || !prefix.Addr().Is4() || prefix.Bits() > 30 {
		return fmt.Errorf("netmodel: AddSegment %q: prefix %v must be an IPv4 prefix of /30 or shorter", name, prefix)
	}
	prefix = prefix.Masked()
	for _, s := range n.segments {
		if s.prefix.Overlaps(prefix) {
			return fmt.Errorf("netmodel: AddSegment %q: prefix %v overlaps segment %q (%v)", name, prefix, s.name, s.prefix)
		}
	}
	if err := link.Validate(); err != nil {
		return fmt.Errorf("netmodel: AddSegment %q: link %w", name, err)
	}
	n.segments = append(n.segments, &segment{name: name, prefix: prefix, broadcast: lastAddr(prefix), link: link})
	return nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func (n *Network) segment(name string) *segment {
	for _, s := range n.segments {
		if s.name == name {
			return s
		}
	}
	return nil
}

// Iface attaches a host to a segment with an address.
type Iface struct {
	Segment string
	Addr    netip.Addr
}

// AddHost adds a host with one or more interfaces. start, if not nil, runs
// as the host's task "<name>/main" (now, or when the World runs) and again
// on every Restart, with the host's Env.
func (n *Network) AddHost(name string, start func(env Env), ifaces ...Iface) (*Host, error) {
	if name == "" || strings.ContainsAny(name, " \t\n,|;#=<>") || strings.Contains(name, "->") {
		return nil, fmt.Errorf("netmodel: AddHost: bad host name %q (no spaces or any of , | ; # = < > ->, so fault plans can name it)", name)
	}
	if _, dup := n.hostNamed[name]; dup {
		return nil, fmt.Errorf("netmodel: AddHost: host %q already exists", name)
	}
	if len(ifaces) == 0 {
		return nil, fmt.Errorf("netmodel: AddHost %q: needs at least one interface", name)
	}
	h := &Host{n: n, name: name, idx: len(n.hosts), start: start, up: true}
	for _, ifc := range ifaces {
		s := n.segment(ifc.Segment)
		if s == nil {
			return nil, fmt.Errorf("netmodel: AddHost %q: unknown segment %q", name, ifc.Segment)
		}
		if !s.prefix.Contains(ifc.Addr) || ifc.Addr == s.prefix.Addr() || ifc.Addr == s.broadcast {
			return nil, fmt.Errorf("netmodel: AddHost %q: address %v is not a host address of segment %q (%v)", name, ifc.Addr, s.name, s.prefix)
		}
		if other, taken := n.hostAt[ifc.Addr]; taken {
			return nil, fmt.Errorf("netmodel: AddHost %q: address %v is already used by host %q", name, ifc.Addr, other.name)
		}
		for _, have := range h.ifaces {
			if have.Name == s.name {
				return nil, fmt.Errorf("netmodel: AddHost %q: two interfaces on segment %q", name, s.name)
			}
		}
		h.ifaces = append(h.ifaces, Interface{Name: s.name, Addr: ifc.Addr, Prefix: s.prefix, Broadcast: s.broadcast})
	}
	for _, ifc := range h.ifaces {
		n.hostAt[ifc.Addr] = h
		s := n.segment(ifc.Name)
		s.hosts = append(s.hosts, h)
	}
	n.hosts = append(n.hosts, h)
	n.hostNamed[name] = h
	h.reset()
	h.env = newHostEnv(h)
	if n.obs != nil {
		addrs := make([]string, len(h.ifaces))
		for i, ifc := range h.ifaces {
			addrs[i] = ifc.Name + "=" + ifc.Addr.String()
		}
		n.emit(Event{Kind: EventHost, From: name, Detail: strings.Join(addrs, " ")})
	}
	if start != nil {
		h.boot()
	}
	return h, nil
}

// Host returns the named host, or nil.
func (n *Network) Host(name string) *Host { return n.hostNamed[name] }

// Hosts returns every host in the order they were added.
func (n *Network) Hosts() []*Host { return slices.Clone(n.hosts) }

// HostNames returns every host's name in the order they were added.
func (n *Network) HostNames() []string {
	out := make([]string, len(n.hosts))
	for i, h := range n.hosts {
		out[i] = h.name
	}
	return out
}

func (n *Network) lookupHost(name string) (*Host, error) {
	h := n.hostNamed[name]
	if h == nil {
		return nil, fmt.Errorf("netmodel: unknown host %q (hosts: %v)", name, n.HostNames())
	}
	return h, nil
}

// SetLink overrides the link from one host to another (one direction).
func (n *Network) SetLink(from, to string, link Link) error {
	a, err := n.lookupHost(from)
	if err != nil {
		return err
	}
	b, err := n.lookupHost(to)
	if err != nil {
		return err
	}
	if err := link.Validate(); err != nil {
		return fmt.Errorf("netmodel: SetLink %s->%s: %w", from, to, err)
	}
	l := n.link(a, b)
	l.cfg = &link
	return nil
}

// link returns the state of the directed link a->b, creating it with the
// default configuration: the first segment both hosts are on, else
// Options.Default.
func (n *Network) link(a, b *Host) *linkState {
	k := linkKey{a.idx, b.idx}
	if l := n.links[k]; l != nil {
		return l
	}
	cfg := &n.defLink
	for _, ia := range a.ifaces {
		if b.onSegment(ia.Name) {
			cfg = &n.segment(ia.Name).link
			break
		}
	}
	if a == b {
		cfg = &n.loopLink
	}
	l := &linkState{
		n: n, from: a, to: b, cfg: cfg,
		rnd: n.w.RandStream("netmodel/link/" + a.name + "->" + b.name),
	}
	n.links[k] = l
	return l
}

// reachable reports whether a packet can go from a to b right now.
func (n *Network) reachable(a, b *Host) (bool, DropCause) {
	if !b.up {
		return false, DropCrash
	}
	if a == b {
		return true, 0
	}
	k := linkKey{a.idx, b.idx}
	if n.cut[k] || n.flapDown[k] {
		return false, DropPartition
	}
	return true, 0
}

// hostFor finds the host owning addr.
func (n *Network) hostFor(addr netip.Addr) *Host { return n.hostAt[addr] }
