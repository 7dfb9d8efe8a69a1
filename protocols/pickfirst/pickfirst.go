package pickfirst

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/sim"
)

// Variant selects which grpc-js release's pick_first runs. The releases
// differ in two small, commented branches of the real code path below.
type Variant string

const (
	// V1_10_1 is grpc-js 1.10.1 (and 1.10.3 to 1.10.10): when the picked
	// connection drops, pick_first requests re-resolution, and the resolver
	// result reconnects with no RPC pending (violates gRFC A62; #2718).
	V1_10_1 Variant = "grpc-js-1.10.1"
	// V1_10_2 is grpc-js 1.10.2 (#2680 alone): no re-resolution on a drop,
	// but a resolver result that arrives while the pick is READY leaves a
	// stale child list, and after the next drop the channel reports
	// CONNECTING with nothing connecting, forever (#2690).
	V1_10_2 Variant = "grpc-js-1.10.2"
	// V1_10_11 is grpc-js 1.10.11 (#2784): connectToAddressList picks an
	// already-READY subchannel before touching the child list.
	V1_10_11 Variant = "grpc-js-1.10.11"
)

// Variants lists the variants, oldest first.
var Variants = []Variant{V1_10_1, V1_10_2, V1_10_11}

// ParseVariant accepts a variant name ("" means V1_10_11).
func ParseVariant(s string) (Variant, error) {
	if s == "" {
		return V1_10_11, nil
	}
	for _, v := range Variants {
		if string(v) == s {
			return v, nil
		}
	}
	return "", fmt.Errorf("pickfirst: unknown variant %q (want one of %v)", s, Variants)
}

// ConnectionDelay is the A61 "Happy Eyeballs" connection-attempt delay
// (grpc-js CONNECTION_DELAY_INTERVAL_MS).
const ConnectionDelay = 250 * time.Millisecond

// ErrNoAddresses is the error of an empty address list.
var ErrNoAddresses = errors.New("pickfirst: no addresses in endpoint list")

// Helper is what pick_first needs from its parent (grpc-js
// ChannelControlHelper). Every call is made on the channel's serializer.
type Helper interface {
	CreateSubchannel(addr string) (*Handle, error)
	UpdateState(s connectivity.State, p Picker)
	RequestReresolution()
	// Schedule runs f on the serializer later (grpc-js process.nextTick
	// and timer callbacks).
	Schedule(f func())
	Env() sim.Env
}

// Config is pick_first's LB config (gRFC A62).
type Config struct {
	ShuffleAddressList bool
}

type child struct {
	sc            *Handle
	hasReportedTF bool
}

// PickFirst is grpc-js's PickFirstLoadBalancer (load-balancer-pick-first.ts,
// 1.10.x). All its methods run on the channel's serializer (grpc-js is
// single-threaded; the serializer is its event loop).
type PickFirst struct {
	helper  Helper
	variant Variant
	cfg     Config
	rnd     *sim.Rand

	children                 []*child
	currentPick              *Handle
	currentState             connectivity.State
	currentSubchannelIndex   int
	connectionDelay          sim.Timer
	delayGen                 int // invalidates a fired-but-queued delay callback
	triedAllSubchannels      bool
	stickyTransientFailure   bool
	latestAddressList        []string
	haveAddressList          bool
	requestedResolutionSince bool
	lastError                error
	listener                 *StateListener
	destroyed                bool
}

// NewPickFirst returns the policy in IDLE.
func NewPickFirst(h Helper, v Variant) *PickFirst {
	lb := &PickFirst{helper: h, variant: v, currentState: connectivity.Idle, rnd: h.Env().Rand("pickfirst/shuffle")}
	// grpc-js registers this one function with every subchannel; the
	// subchannel keeps listeners in a Set, so two handles of one real
	// subchannel share one registration.
	lb.listener = &StateListener{Fn: func(sc *Subchannel, prev, next connectivity.State, err error) {
		h.Schedule(func() { lb.onSubchannelStateUpdate(sc, prev, next, err) })
	}}
	return lb
}

// State is the state pick_first last reported.
func (lb *PickFirst) State() connectivity.State { return lb.currentState }

func (lb *PickFirst) allChildrenHaveReportedTF() bool {
	for _, c := range lb.children {
		if !c.hasReportedTF {
			return false
		}
	}
	return true
}

func (lb *PickFirst) calculateAndReportNewState() {
	switch {
	case lb.currentPick != nil:
		lb.updateState(connectivity.Ready, pickFirstPicker{sc: lb.currentPick})
	case len(lb.children) == 0:
		lb.updateState(connectivity.Idle, NewQueuePicker(lb.helper.Schedule, lb, nil))
	case lb.stickyTransientFailure:
		lb.updateState(connectivity.TransientFailure, UnavailablePicker{Err: fmt.Errorf("no connection established; last error: %v", lb.lastError)})
	default:
		lb.updateState(connectivity.Connecting, NewQueuePicker(lb.helper.Schedule, lb, nil))
	}
}

func (lb *PickFirst) updateState(s connectivity.State, p Picker) {
	lb.currentState = s
	lb.helper.UpdateState(s, p)
}

func (lb *PickFirst) requestReresolution() {
	lb.requestedResolutionSince = true
	lb.helper.RequestReresolution()
}

func (lb *PickFirst) maybeEnterStickyTransientFailureMode() {
	if !lb.allChildrenHaveReportedTF() {
		return
	}
	if !lb.requestedResolutionSince {
		lb.requestReresolution()
	}
	if lb.stickyTransientFailure {
		return
	}
	lb.stickyTransientFailure = true
	for _, c := range lb.children {
		c.sc.StartConnecting()
	}
	lb.calculateAndReportNewState()
}

func (lb *PickFirst) removeCurrentPick() {
	if lb.currentPick == nil {
		return
	}
	pick := lb.currentPick
	lb.currentPick = nil
	pick.Unref()
	// Removing the listener through the pick removes the one registration
	// every handle of the same real subchannel shares (grpc-node #2690).
	pick.RemoveListener(lb.listener)
}

func (lb *PickFirst) onSubchannelStateUpdate(sc *Subchannel, _, next connectivity.State, err error) {
	if lb.destroyed {
		return
	}
	if lb.currentPick != nil && lb.currentPick.Real() == sc {
		if next != connectivity.Ready {
			lb.removeCurrentPick()
			lb.calculateAndReportNewState()
			if lb.variant == V1_10_1 {
				// grpc-js <= 1.10.1: re-resolve on a drop. The resolver's
				// answer reconnects with no RPC pending, against gRFC A62
				// (#2718); #2680 removed this call.
				lb.requestReresolution()
			}
		}
		return
	}
	for i, c := range lb.children {
		if c.sc.Real() != sc {
			continue
		}
		if next == connectivity.Ready {
			lb.pickSubchannel(c.sc)
		}
		if next == connectivity.TransientFailure {
			c.hasReportedTF = true
			if err != nil {
				lb.lastError = err
			}
			lb.maybeEnterStickyTransientFailureMode()
			if i == lb.currentSubchannelIndex {
				lb.startNextSubchannelConnecting(i + 1)
			}
		}
		c.sc.StartConnecting()
		return
	}
}

func (lb *PickFirst) clearConnectionDelay() {
	if lb.connectionDelay != nil {
		lb.connectionDelay.Stop()
		lb.connectionDelay = nil
	}
	lb.delayGen++
}

func (lb *PickFirst) startNextSubchannelConnecting(start int) {
	lb.clearConnectionDelay()
	if lb.triedAllSubchannels {
		return
	}
	for i, c := range lb.children {
		if i < start {
			continue
		}
		if st := c.sc.State(); st == connectivity.Idle || st == connectivity.Connecting {
			lb.startConnecting(i)
			return
		}
	}
	lb.triedAllSubchannels = true
	lb.maybeEnterStickyTransientFailureMode()
}

func (lb *PickFirst) startConnecting(i int) {
	lb.clearConnectionDelay()
	lb.currentSubchannelIndex = i
	if lb.children[i].sc.State() == connectivity.Idle {
		sc := lb.children[i].sc
		lb.helper.Schedule(func() { // process.nextTick
			if !lb.destroyed && i < len(lb.children) && lb.children[i].sc == sc {
				sc.StartConnecting()
			}
		})
	}
	gen := lb.delayGen
	lb.connectionDelay = lb.helper.Env().AfterFunc(ConnectionDelay, func() {
		lb.helper.Schedule(func() {
			if gen != lb.delayGen || lb.destroyed {
				return // cleared after it fired
			}
			lb.connectionDelay = nil
			lb.startNextSubchannelConnecting(i + 1)
		})
	})
}

func (lb *PickFirst) pickSubchannel(sc *Handle) {
	if lb.currentPick != nil && sc.Real() == lb.currentPick.Real() {
		return
	}
	lb.stickyTransientFailure = false
	lb.removeCurrentPick()
	lb.currentPick = sc
	sc.Ref()
	lb.resetSubchannelList()
	lb.clearConnectionDelay()
	lb.calculateAndReportNewState()
}

func (lb *PickFirst) resetSubchannelList() {
	for _, c := range lb.children {
		if lb.currentPick == nil || c.sc.Real() != lb.currentPick.Real() {
			// The listener is shared with the pick if it is the same real
			// subchannel: keep it then.
			c.sc.RemoveListener(lb.listener)
		}
		c.sc.Unref()
	}
	lb.currentSubchannelIndex = 0
	lb.children = nil
	lb.triedAllSubchannels = false
	lb.requestedResolutionSince = false
}

func (lb *PickFirst) connectToAddressList(addrs []string) {
	var list []*child
	var bad []string
	for _, a := range addrs {
		sc, err := lb.helper.CreateSubchannel(a)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		list = append(list, &child{sc: sc})
	}
	if len(list) == 0 {
		lb.failNoAddresses(fmt.Errorf("pickfirst: no usable address: %s", strings.Join(bad, "; ")))
		return
	}
	if lb.variant == V1_10_11 {
		// #2784: an already-READY subchannel (shared through the pool) is
		// picked BEFORE the child list is touched. If it is the current
		// pick, pickSubchannel returns early and the list stays empty, so
		// a later drop reports IDLE instead of an orphaned CONNECTING.
		for _, c := range list {
			if c.sc.State() == connectivity.Ready {
				c.sc.AddListener(lb.listener)
				lb.pickSubchannel(c.sc)
				return
			}
		}
	}
	// Ref each new subchannel before resetting the list, so subchannels in
	// both lists keep a ref through the switch.
	for _, c := range list {
		c.sc.Ref()
	}
	lb.resetSubchannelList()
	lb.children = list
	for _, c := range lb.children {
		c.sc.AddListener(lb.listener)
		if c.sc.State() == connectivity.Ready {
			// 1.10.2: if this is the current pick's real subchannel,
			// pickSubchannel returns at once and lb.children stays set
			// with no timer running: the stale list of #2690.
			lb.pickSubchannel(c.sc)
			return
		}
	}
	for _, c := range lb.children {
		if c.sc.State() == connectivity.TransientFailure {
			c.hasReportedTF = true
		}
	}
	lb.startNextSubchannelConnecting(0)
	lb.calculateAndReportNewState()
}

func (lb *PickFirst) failNoAddresses(err error) {
	lb.resetSubchannelList()
	lb.removeCurrentPick()
	lb.clearConnectionDelay()
	lb.lastError = err
	lb.updateState(connectivity.TransientFailure, UnavailablePicker{Err: err})
	lb.requestReresolution()
}

// UpdateAddressList applies a resolver result: optional shuffle, duplicate
// removal (the first occurrence is kept), IPv6/IPv4 interleaving (RFC 8305,
// gRFC A61), then a new connection attempt over the list. An empty list
// reports TRANSIENT_FAILURE with ErrNoAddresses.
func (lb *PickFirst) UpdateAddressList(addrs []string, cfg Config) {
	if lb.destroyed {
		return
	}
	lb.cfg = cfg
	addrs = dedupe(addrs)
	if len(addrs) == 0 {
		lb.haveAddressList = false
		lb.failNoAddresses(ErrNoAddresses)
		return
	}
	if cfg.ShuffleAddressList {
		addrs = append([]string(nil), addrs...)
		for i := len(addrs) - 1; i > 0; i-- {
			j := lb.rnd.Intn(i + 1)
			addrs[i], addrs[j] = addrs[j], addrs[i]
		}
	}
	addrs = interleaveFamilies(addrs)
	lb.latestAddressList = addrs
	lb.haveAddressList = true
	lb.connectToAddressList(addrs)
}

// ExitIdle reconnects, but only from IDLE (grpc-js: a CONNECTING
// pick_first ignores it, which is what leaves 1.10.2 stuck).
func (lb *PickFirst) ExitIdle() {
	if lb.destroyed {
		return
	}
	if lb.currentState == connectivity.Idle && lb.haveAddressList {
		lb.connectToAddressList(lb.latestAddressList)
	}
}

// Destroy releases every subchannel.
func (lb *PickFirst) Destroy() {
	lb.resetSubchannelList()
	lb.removeCurrentPick()
	lb.clearConnectionDelay()
	lb.destroyed = true
}

// Diagnosis describes the policy for properties and failure messages.
type Diagnosis struct {
	State          connectivity.State
	Pick           string
	Children       []ChildInfo
	DelayPending   bool
	StickyTF       bool
	AddressListSet bool
	// ResolutionPending is set by Channel.Diagnose: a re-resolution is
	// queued in the resolving balancer or the resolver, so a result will
	// rebuild the child list.
	ResolutionPending bool
}

// ChildInfo is one entry of the child list.
type ChildInfo struct {
	Addr        string
	State       connectivity.State
	HasListener bool
	InBackoff   bool
}

// Diagnose snapshots the policy. Call it on the serializer or when the
// world is quiescent.
func (lb *PickFirst) Diagnose() Diagnosis {
	d := Diagnosis{State: lb.currentState, DelayPending: lb.connectionDelay != nil, StickyTF: lb.stickyTransientFailure, AddressListSet: lb.haveAddressList}
	if lb.currentPick != nil {
		d.Pick = lb.currentPick.Addr()
	}
	for _, c := range lb.children {
		r := c.sc.Real()
		d.Children = append(d.Children, ChildInfo{Addr: c.sc.Addr(), State: r.State(), HasListener: r.HasListener(lb.listener), InBackoff: r.InBackoff()})
	}
	return d
}

// Progressing reports whether a CONNECTING pick_first has something that
// will move it: a child connecting, the connection-delay timer, a child
// with the listener attached that is in backoff (gRFC A62 liveness), or a
// pending resolution whose result will start a new pass.
func (d Diagnosis) Progressing() bool {
	if d.DelayPending || d.ResolutionPending {
		return true
	}
	for _, c := range d.Children {
		if c.State == connectivity.Connecting || (c.HasListener && (c.InBackoff || c.State == connectivity.Ready)) {
			return true
		}
	}
	return false
}

func (d Diagnosis) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pick_first %v", d.State)
	if d.Pick != "" {
		fmt.Fprintf(&b, ", pick %s", d.Pick)
	}
	fmt.Fprintf(&b, ", children [")
	for i, c := range d.Children {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %v", c.Addr, c.State)
		if !c.HasListener {
			b.WriteString(" no-listener")
		}
		if c.InBackoff {
			b.WriteString(" backoff")
		}
	}
	b.WriteString("]")
	if d.DelayPending {
		b.WriteString(", delay timer pending")
	}
	if d.ResolutionPending {
		b.WriteString(", resolution pending")
	}
	return b.String()
}

func dedupe(addrs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range addrs {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// interleaveFamilies orders addresses IPv6, IPv4, IPv6, ... starting with
// the family of the first address (RFC 8305 section 4, gRFC A61), keeping
// the order within each family. Host names count as the first family.
func interleaveFamilies(addrs []string) []string {
	isV6 := func(a string) bool {
		h, _, err := net.SplitHostPort(a)
		if err != nil {
			return false
		}
		ip, err := netip.ParseAddr(h)
		return err == nil && ip.Is6() && !ip.Is4In6()
	}
	var first, second []string
	firstV6 := isV6(addrs[0])
	for _, a := range addrs {
		if isV6(a) == firstV6 {
			first = append(first, a)
		} else {
			second = append(second, a)
		}
	}
	out := make([]string, 0, len(addrs))
	for i := 0; i < len(first) || i < len(second); i++ {
		if i < len(first) {
			out = append(out, first[i])
		}
		if i < len(second) {
			out = append(out, second[i])
		}
	}
	return out
}
