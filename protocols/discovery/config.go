package discovery

import (
	"errors"
	"fmt"
	"time"
)

// Variant selects the historical behaviour the node reproduces.
type Variant string

const (
	// Blocking is exo before commit 54c98607 (issue #34), as a
	// deterministic model: ONE loop task per node whose listen step is a
	// blocking ReadFrom (no deadline). A received datagram is handled
	// inline (health check included); then, in the same loop, the node
	// broadcasts if a broadcast is due and runs a cleanup pass if one is
	// due. Broadcast and cleanup therefore only run when something is
	// received, and the listen step is scheduled before the first
	// broadcast: two nodes that start together both block and never
	// discover each other.
	Blocking Variant = "blocking"
	// RacyCleanup is udp_discovery.py before PRs #309/#310 (issue #308):
	// the tasks of Fixed, but the refresh written after the handler's
	// health-check await does not re-check membership, so it resurrects a
	// peer that cleanup removed meanwhile, and cleanup deletes whatever
	// entry is under a peer id after its own awaits (one refreshed or
	// replaced meanwhile included).
	RacyCleanup Variant = "racy-cleanup"
	// Fixed is udp_discovery.py after #309/#310 (Dec 2024): separate
	// broadcast, listen and cleanup tasks, one handler task per datagram,
	// cleanup over a snapshot of the ids with concurrent checks, and every
	// write after an await re-checks membership.
	Fixed Variant = "fixed"
)

func (v Variant) String() string { return string(v) }

// ParseVariant accepts "blocking" (alias "buggy"), "racy-cleanup" and
// "fixed" ("" means Fixed).
func ParseVariant(s string) (Variant, error) {
	switch s {
	case "", string(Fixed):
		return Fixed, nil
	case string(Blocking), "buggy":
		return Blocking, nil
	case string(RacyCleanup):
		return RacyCleanup, nil
	}
	return "", fmt.Errorf("discovery: unknown variant %q (want blocking (alias buggy), racy-cleanup or fixed)", s)
}

// Defaults: exo's CLI defaults and udp_discovery.py (Dec 2024) constants.
const (
	DefaultServicePort        = 50051
	DefaultListenPort         = 5678
	DefaultBroadcastPort      = 5678
	DefaultBroadcastInterval  = 2500 * time.Millisecond
	DefaultPeerTimeout        = 30 * time.Second
	DefaultConnectTimeout     = 10 * time.Second
	DefaultHealthCheckTimeout = 5 * time.Second
	DefaultPriority           = 1
	DefaultInterfaceType      = "Ethernet"
	// AllInterfaces as Options.Interface broadcasts on every interface of
	// the host, each presence naming its interface (exo's Dec 2024 loop
	// over get_all_ip_addresses_and_interfaces).
	AllInterfaces = "*"
)

// Capabilities are a node's device capabilities (exo DeviceCapabilities).
type Capabilities struct {
	Model, Chip      string
	MemoryMB         int
	FP32, FP16, INT8 float64 // TFLOPS
}

// Hooks let a scenario observe what its properties need. They run on the
// node's tasks, synchronously: keep them cheap and do not call back into
// the node's blocking methods (Close, WaitForPeers) from them.
type Hooks struct {
	// OnBroadcast is called after each broadcast round (one call however
	// many interfaces the round sent on), with the time it was sent.
	OnBroadcast func(at time.Time)
	// OnLoopBlocked (Blocking variant only) is called each time the loop's
	// listen step returns: the loop was stuck in ReadFrom from..to.
	OnLoopBlocked func(from, to time.Time)
	// OnResurrect is called when the refresh after a handler's health-check
	// await finds the peer removed meanwhile: RacyCleanup writes it back,
	// Fixed skips the write.
	OnResurrect func(peerID string)
	// OnDrop is called for a datagram rejected by the decoder or a filter,
	// with one of the Drop* reasons. The node's own presence, and a
	// presence at a new address whose priority does not beat the known
	// one, are ignored without a call.
	OnDrop func(reason string)
}

// Options configure a Node. Zero fields take the documented defaults.
type Options struct {
	// NodeID is the node's id (required).
	NodeID string
	// ServicePort is the health-check server's port, advertised as
	// grpc_port (default 50051).
	ServicePort int
	// ListenPort is the UDP port presence datagrams are received on
	// (default 5678).
	ListenPort int
	// BroadcastPort is the UDP port presence datagrams are sent to
	// (default 5678).
	BroadcastPort int
	// BroadcastInterval is the time between broadcast rounds (default 2.5s).
	BroadcastInterval time.Duration
	// PeerTimeout: a peer not heard of for longer is removed (default 30s).
	PeerTimeout time.Duration
	// CleanupInterval is the pause between cleanup passes (default
	// BroadcastInterval).
	CleanupInterval time.Duration
	// ConnectTimeout bounds a health check's connect (default 10s).
	ConnectTimeout time.Duration
	// HealthCheckTimeout bounds a health check's request and answer once
	// connected (default 5s).
	HealthCheckTimeout time.Duration
	// Capabilities are advertised in every presence.
	Capabilities Capabilities
	// Priority is the advertised priority (default 1): a peer known at one
	// address is only moved to another by a presence of higher priority.
	Priority int
	// InterfacePriorities overrides Priority per interface name (with
	// AllInterfaces, so one node can advertise two addresses with
	// different priorities, as exo's interface types do).
	InterfacePriorities map[string]int
	// InterfaceType is advertised as interface_type (default "Ethernet").
	InterfaceType string
	// Interface is the interface (netmodel segment name) broadcast on and
	// advertised as interface_name; default the host's first interface;
	// AllInterfaces broadcasts on every one.
	Interface string
	// LimitedBroadcast also sends every presence to 255.255.255.255, as
	// exo does since Dec 2024. Off by default: on one segment the subnet
	// broadcast already reaches every host, and the second copy only
	// doubles the handler work.
	LimitedBroadcast bool
	// AllowedNodeIDs, if not empty, is the only peers accepted.
	AllowedNodeIDs []string
	// AllowedInterfaceTypes, if not empty, is the only interface types
	// accepted (exo's allowed_interface_types).
	AllowedInterfaceTypes []string
	// Variant selects the behaviour ("" is Fixed).
	Variant Variant
	// OnEvent, if set, is called on the node's tasks for every PeerUp,
	// PeerDown and PeerUpdated, in the order the peer table changed. It
	// may call Peers but must not call Close.
	OnEvent func(Event)
	// Hooks observe the node for properties.
	Hooks Hooks
}

// ErrClosed is returned by a closed node.
var ErrClosed = errors.New("discovery: node closed")

// DefaultOptions returns exo's defaults for a node: BroadcastInterval
// 2.5s and PeerTimeout 30s (which Options need explicitly); the other zero
// fields take their defaults in New.
func DefaultOptions(nodeID string) Options {
	return Options{NodeID: nodeID, BroadcastInterval: DefaultBroadcastInterval, PeerTimeout: DefaultPeerTimeout}
}

// Validate checks the options as given and names the first bad field.
// BroadcastInterval must be positive and PeerTimeout at least the
// interval; other zero fields stand for their defaults.
func (o Options) Validate() error {
	if o.NodeID == "" {
		return errors.New("discovery: Options.NodeID is empty")
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"ServicePort", o.ServicePort}, {"ListenPort", o.ListenPort}, {"BroadcastPort", o.BroadcastPort}} {
		if p.v < 0 || p.v > 65535 {
			return fmt.Errorf("discovery: Options.%s %d out of range 1-65535", p.name, p.v)
		}
	}
	// The broadcast interval and the peer timeout have no implicit
	// default: an interval of 0 would broadcast in a busy loop, and a
	// timeout shorter than the interval expires every peer between two
	// presences. DefaultOptions fills them.
	if o.BroadcastInterval <= 0 {
		return fmt.Errorf("discovery: Options.BroadcastInterval %v must be positive (DefaultOptions sets %v)", o.BroadcastInterval, DefaultBroadcastInterval)
	}
	if o.PeerTimeout < o.BroadcastInterval {
		return fmt.Errorf("discovery: Options.PeerTimeout %v is shorter than BroadcastInterval %v (DefaultOptions sets %v)", o.PeerTimeout, o.BroadcastInterval, DefaultPeerTimeout)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"CleanupInterval", o.CleanupInterval}, {"ConnectTimeout", o.ConnectTimeout},
		{"HealthCheckTimeout", o.HealthCheckTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("discovery: Options.%s %v must be positive", d.name, d.v)
		}
	}
	if _, err := ParseVariant(string(o.Variant)); err != nil {
		return err
	}
	return nil
}

// withDefaults validates o and fills in its defaults.
func (o Options) withDefaults() (Options, error) {
	if err := o.Validate(); err != nil {
		return o, err
	}
	o.Variant, _ = ParseVariant(string(o.Variant))
	or := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	ord := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	or(&o.ServicePort, DefaultServicePort)
	or(&o.ListenPort, DefaultListenPort)
	or(&o.BroadcastPort, DefaultBroadcastPort)
	or(&o.Priority, DefaultPriority)
	ord(&o.BroadcastInterval, DefaultBroadcastInterval)
	ord(&o.PeerTimeout, DefaultPeerTimeout)
	ord(&o.CleanupInterval, o.BroadcastInterval)
	ord(&o.ConnectTimeout, DefaultConnectTimeout)
	ord(&o.HealthCheckTimeout, DefaultHealthCheckTimeout)
	if o.InterfaceType == "" {
		o.InterfaceType = DefaultInterfaceType
	}
	return o, nil
}
