package netmodel

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"
)

func (n *Network) hostsNamed(names []string) ([]*Host, error) {
	out := make([]*Host, 0, len(names))
	for _, name := range names {
		h, err := n.lookupHost(name)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// Partition splits hosts into groups that cannot reach each other, in both
// directions. Hosts in no group keep reaching everyone. It adds to any
// partition already in force; Heal removes them all.
func (n *Network) Partition(groups ...[]string) error {
	hs := make([][]*Host, len(groups))
	seen := map[string]int{}
	for i, g := range groups {
		if len(g) == 0 {
			return fmt.Errorf("netmodel: Partition: group %d is empty", i+1)
		}
		for _, name := range g {
			if j, dup := seen[name]; dup {
				return fmt.Errorf("netmodel: Partition: host %q is in groups %d and %d", name, j+1, i+1)
			}
			seen[name] = i
		}
		var err error
		if hs[i], err = n.hostsNamed(g); err != nil {
			return err
		}
	}
	for i, gi := range hs {
		for j, gj := range hs {
			if i == j {
				continue
			}
			for _, a := range gi {
				for _, b := range gj {
					n.cut[linkKey{a.idx, b.idx}] = true
				}
			}
		}
	}
	if n.obs != nil {
		n.emitFault("partition", "", groupsDetail(groups))
	}
	return nil
}

// PartitionOneWay drops all traffic from any host of from to any host of to;
// the other direction still works.
func (n *Network) PartitionOneWay(from, to []string) error {
	as, err := n.hostsNamed(from)
	if err != nil {
		return err
	}
	bs, err := n.hostsNamed(to)
	if err != nil {
		return err
	}
	for _, a := range as {
		for _, b := range bs {
			if a != b {
				n.cut[linkKey{a.idx, b.idx}] = true
			}
		}
	}
	if n.obs != nil {
		n.emitFault("oneway", "", groupsDetail([][]string{from, to})+" (one way)")
	}
	return nil
}

// Isolate cuts a host off from every other host, both ways.
func (n *Network) Isolate(host string) error {
	h, err := n.lookupHost(host)
	if err != nil {
		return err
	}
	for _, o := range n.hosts {
		if o != h {
			n.cut[linkKey{h.idx, o.idx}] = true
			n.cut[linkKey{o.idx, h.idx}] = true
		}
	}
	if n.obs != nil {
		n.emitFault("isolate", host, "")
	}
	return nil
}

// Heal removes every partition, one-way cut and isolation (not holds or
// flaps).
func (n *Network) Heal() {
	clear(n.cut)
	if n.obs != nil {
		n.emitFault("heal", "", "")
	}
}

// Flap makes the link between a and b alternate: up for a sample of up, then
// down (both directions) for a sample of down, and so on until virtual time
// until (since the start of the run), when it stays up.
func (n *Network) Flap(a, b string, up, down Dist, until time.Duration) error {
	ha, err := n.lookupHost(a)
	if err != nil {
		return err
	}
	hb, err := n.lookupHost(b)
	if err != nil {
		return err
	}
	if ha == hb {
		return fmt.Errorf("netmodel: Flap: %q with itself", a)
	}
	if err := up.Validate(); err != nil {
		return fmt.Errorf("netmodel: Flap %s-%s: up: %w", a, b, err)
	}
	if err := down.Validate(); err != nil {
		return fmt.Errorf("netmodel: Flap %s-%s: down: %w", a, b, err)
	}
	rnd := n.w.Rand("netmodel/flap/" + a + "-" + b)
	k1, k2 := linkKey{ha.idx, hb.idx}, linkKey{hb.idx, ha.idx}
	var toggle func(isDown bool)
	toggle = func(isDown bool) {
		now := n.w.Elapsed()
		if now >= until {
			delete(n.flapDown, k1)
			delete(n.flapDown, k2)
			if n.obs != nil {
				n.emitFault("flap-up", "", a+"-"+b+" (flapping over)")
			}
			return
		}
		if isDown {
			n.flapDown[k1], n.flapDown[k2] = true, true
		} else {
			delete(n.flapDown, k1)
			delete(n.flapDown, k2)
		}
		if n.obs != nil {
			f := "flap-up"
			if isDown {
				f = "flap-down"
			}
			n.emitFault(f, "", a+"-"+b)
		}
		d := up.Sample(rnd)
		if isDown {
			d = down.Sample(rnd)
		}
		n.w.ScheduleFunc(max(min(d, until-now), 1), func() { toggle(!isDown) })
	}
	toggle(false)
	return nil
}

// Hold keeps packets on the link from -> to in flight (they are neither
// delivered nor dropped) until Release.
func (n *Network) Hold(from, to string) error {
	l, err := n.linkNamed(from, to)
	if err != nil {
		return err
	}
	l.held = true
	if n.obs != nil {
		n.emitFault("hold", "", from+"->"+to)
	}
	return nil
}

// Release delivers the packets Hold kept, in order, and stops holding.
func (n *Network) Release(from, to string) error {
	l, err := n.linkNamed(from, to)
	if err != nil {
		return err
	}
	l.held = false
	if n.obs != nil {
		n.emitFault("release", "", from+"->"+to)
	}
	q := l.heldQ
	l.heldQ = nil
	for _, f := range q {
		f()
	}
	return nil
}

func (n *Network) linkNamed(from, to string) (*linkState, error) {
	a, err := n.lookupHost(from)
	if err != nil {
		return nil, err
	}
	b, err := n.lookupHost(to)
	if err != nil {
		return nil, err
	}
	return n.link(a, b), nil
}

// SetLinkFaults changes the loss, duplication and reordering probabilities
// of the link from -> to.
func (n *Network) SetLinkFaults(from, to string, loss, duplicate, reorder float64) error {
	l, err := n.linkNamed(from, to)
	if err != nil {
		return err
	}
	cfg := *l.cfg
	cfg.Loss, cfg.Duplicate, cfg.Reorder = loss, duplicate, reorder
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("netmodel: SetLinkFaults %s->%s: %w", from, to, err)
	}
	l.cfg = &cfg
	if n.obs != nil {
		n.emitFault("link-faults", "", fmt.Sprintf("%s->%s loss=%g dup=%g reorder=%g", from, to, loss, duplicate, reorder))
	}
	return nil
}

// SetClockOffset sets how far the host's clock (Env.Now, socket deadlines)
// runs ahead of (positive) or behind (negative) virtual time.
func (n *Network) SetClockOffset(host string, d time.Duration) error {
	h, err := n.lookupHost(host)
	if err != nil {
		return err
	}
	h.offset = d
	if n.obs != nil {
		n.emitFault("clock-offset", host, d.String())
	}
	return nil
}

// Crash stops a host: its connections are reset (each peer gets an RST if
// the link lets it through, else finds out by timing out), its listeners and
// datagram sockets close, its tasks are killed (their defers run) and its
// timers stop. Packets to it are dropped until Restart.
func (n *Network) Crash(host string) error {
	h, err := n.lookupHost(host)
	if err != nil {
		return err
	}
	if !h.up {
		return fmt.Errorf("netmodel: Crash: host %q is already down", host)
	}
	if n.obs != nil {
		n.emitFault("crash", host, "")
	}
	for _, c := range h.conns {
		if c.err == nil && c.in != nil {
			n.sendReset(c, c.in.src)
		}
		c.err = errReset("read")
		c.out.kill()
		c.sig.Broadcast()
	}
	// Close sockets in a fixed order: closing wakes their blocked tasks,
	// and the order of wake-ups is a scheduling decision.
	for _, k := range sortedKeys(h.listeners) {
		ln := h.listeners[k]
		ln.closed = true
		ln.sig.Broadcast()
	}
	for _, k := range sortedKeys(h.udp) {
		pc := h.udp[k]
		pc.closed = true
		pc.sig.Broadcast()
	}
	// Connections already closed but still sending (a FIN, data in
	// retransmission) die with the host too.
	for _, p := range h.pipes {
		p.kill()
	}
	h.up = false
	h.epoch++
	h.reset()
	n.w.KillOwner(h)
	return nil
}

// Restart brings a crashed host back with fresh state and runs its start
// function again.
func (n *Network) Restart(host string) error {
	h, err := n.lookupHost(host)
	if err != nil {
		return err
	}
	if h.up {
		return fmt.Errorf("netmodel: Restart: host %q is not down", host)
	}
	h.up = true
	h.reset()
	if n.obs != nil {
		n.emitFault("restart", host, "")
	}
	if h.start != nil {
		h.boot()
	}
	return nil
}

var _ faultTarget = (*Network)(nil)

// Apply validates the plan against the network's hosts and schedules each
// step at its time (virtual time since the start of the run). A step that
// fails when it runs (e.g. crashing a host that is already down) fails the
// run with a "fault-plan" violation naming the step.
func (n *Network) Apply(p Plan) error {
	if err := p.Validate(n.HostNames()); err != nil {
		return err
	}
	for i, s := range p {
		at := s.At - n.w.Elapsed()
		n.w.ScheduleFunc(max(at, 0), func() {
			if err := p.apply(n, s); err != nil {
				n.w.Violate("fault-plan", "step %d (%s): %v", i+1, s, err)
			}
		})
	}
	return nil
}

// sortedKeys returns a socket table's keys ordered by (address, port).
func sortedKeys[V any](m map[sockKey]V) []sockKey {
	return slices.SortedFunc(maps.Keys(m), func(a, b sockKey) int {
		return cmp.Or(a.addr.Compare(b.addr), cmp.Compare(a.port, b.port))
	})
}
