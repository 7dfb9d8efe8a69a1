package scenarios

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/discovery"
)

func init() {
	registerLive(&LiveMode{
		Scenario: "discovery",
		Doc: "N discovery nodes (fixed variant, exo's defaults: a presence every 2.5s to the segment's broadcast " +
			"address, a stream health check per presence, expiry after 30s) start together. Every node must know " +
			"every other within 4 broadcast intervals, each must broadcast at least once per interval, its peer " +
			"table must hold what its events said, and no running peer may be removed. With -duration of 46s or " +
			"more, the last node leaves at 11s and every other node must remove it within 30s + 2.5s.",
		DefaultNodes: 5, MinNodes: 2, MaxNodes: 200,
		DefaultDuration: 10 * time.Second, MinDuration: 2 * time.Second,
		Properties: []string{"discovery-liveness", "progress", "no-resurrection", "stability", "expiry"},
		run:        runLiveDiscovery,
	})
}

// liveDiscoveryMember is one node of the live discovery workload. Its
// fields are guarded by the workload's mutex.
type liveDiscoveryMember struct {
	name    string
	env     netmodel.Env
	node    *discovery.Node
	running bool
	leftAt  time.Duration
	lastB   time.Duration
	bcasts  int
	maxGap  time.Duration
	known   map[string]bool // the peer table as the events describe it
	unknown map[string]int  // listed by Peers but not known: consecutive checks
	// removed: when this node removed the node that left (-1: not yet).
	removed time.Duration
}

func runLiveDiscovery(l *liveRun) error {
	env, n, duration := l.env, l.cfg.Nodes, l.cfg.Duration
	const (
		interval = discovery.DefaultBroadcastInterval
		timeout  = discovery.DefaultPeerTimeout
		step     = 100 * time.Millisecond
	)
	livenessBound := 4*interval + LiveTolerance
	progressBound := interval + LiveTolerance
	expiryBound := timeout + interval + LiveTolerance

	mu := env.NewMutex() // the members' fields, pairs, fullAt
	ms := make([]*liveDiscoveryMember, n)
	byID := map[string]*liveDiscoveryMember{}
	for i := range ms {
		m := &liveDiscoveryMember{name: fmt.Sprintf("d%d", i), known: map[string]bool{}, unknown: map[string]int{}, removed: -1}
		ms[i], byID[m.name] = m, m
	}
	closeAll := func() {
		for _, m := range ms {
			if m.node != nil {
				m.node.Close()
			}
		}
	}
	pairs, target, fullAt := 0, n*(n-1), time.Duration(-1)

	for _, m := range ms {
		var err error
		if m.env, err = l.cfg.Net.AddNode(m.name); err != nil {
			closeAll()
			return err
		}
		opts := discovery.DefaultOptions(m.name)
		opts.OnEvent = func(ev discovery.Event) {
			mu.Lock()
			defer mu.Unlock()
			id := ev.Peer.ID
			p := byID[id]
			switch ev.Kind {
			case discovery.PeerUp, discovery.PeerUpdated:
				if !m.known[id] {
					pairs++
					l.event("%s: peer up %s (%s)", m.name, id, ev.Peer.Addr)
				}
				m.known[id] = true
				if fullAt < 0 && pairs == target {
					fullAt = l.since()
					l.event("full discovery: each of the %d nodes knows the other %d", n, n-1)
				}
			case discovery.PeerDown:
				if m.known[id] {
					pairs--
				}
				delete(m.known, id)
				l.event("%s: peer down %s (%s)", m.name, id, ev.Reason)
				switch {
				case p == nil:
				case p.running && m.running:
					l.violate("stability", "%s removed %s (%s) at %.3fs although %s is running and broadcasting", m.name, id, ev.Reason, l.since().Seconds(), id)
				case !p.running && m.removed < 0:
					m.removed = l.since()
				}
			}
		}
		opts.Hooks.OnBroadcast = func(time.Time) {
			mu.Lock()
			defer mu.Unlock()
			t := l.since()
			m.maxGap = max(m.maxGap, t-m.lastB)
			m.lastB = t
			m.bcasts++
		}
		node, err := discovery.New(m.env, opts)
		if err != nil {
			closeAll()
			return err
		}
		mu.Lock()
		m.node, m.running, m.lastB = node, true, l.since()
		mu.Unlock()
		if err := node.Start(); err != nil {
			closeAll()
			return err
		}
		l.event("%s started on %s", m.name, m.env.Net().Interfaces()[0].Addr)
	}

	// One node leaves (for good) when there is time to see it expire.
	var leaver *liveDiscoveryMember
	leaveAt := livenessBound
	if n >= 3 && duration >= leaveAt+expiryBound+2*step+LiveTolerance {
		leaver = ms[n-1]
	}
	reportedMissing := false
	for l.since() < duration {
		env.Sleep(min(step, duration-l.since()))
		t := l.since()
		// The peer tables, read outside mu (a node's event delivery may be
		// waiting for mu while it holds the node's event lock).
		tables := make([][]discovery.Peer, n)
		for i, m := range ms {
			mu.Lock()
			running := m.running
			mu.Unlock()
			if running {
				tables[i] = m.node.Peers()
			}
		}
		mu.Lock()
		for i, m := range ms {
			if !m.running {
				continue
			}
			if gap := t - m.lastB; gap > progressBound {
				l.violate("progress", "%s has not broadcast since %.3fs (now %.3fs; interval %v + tolerance %v)", m.name, m.lastB.Seconds(), t.Seconds(), interval, LiveTolerance)
			}
			// No resurrection: a peer listed by the table and not known
			// from the events, at two checks in a row (an event is
			// delivered just after the table changes).
			listed := map[string]bool{}
			for _, p := range tables[i] {
				listed[p.ID] = true
				if m.known[p.ID] {
					continue
				}
				m.unknown[p.ID]++
				if m.unknown[p.ID] == 2 {
					l.violate("no-resurrection", "%s lists %s, which its last event about it removed (or never added)", m.name, p.ID)
				}
			}
			for _, id := range slices.Sorted(maps.Keys(m.unknown)) {
				if !listed[id] || m.known[id] {
					delete(m.unknown, id)
				}
			}
			if leaver != nil && !leaver.running && m.known[leaver.name] && t > leaver.leftAt+expiryBound {
				l.violate("expiry", "%s still lists %s at %.3fs; it left at %.3fs (bound %v)", m.name, leaver.name, t.Seconds(), leaver.leftAt.Seconds(), expiryBound)
			}
		}
		if fullAt < 0 && t > livenessBound && !reportedMissing {
			reportedMissing = true
			l.violate("discovery-liveness", "at %.3fs not every node knows every other: %s", t.Seconds(), liveMissingPairs(ms))
		}
		leave := leaver != nil && leaver.running && t >= leaveAt
		if leave {
			leaver.running, leaver.leftAt = false, t
		}
		mu.Unlock()
		if leave {
			l.event("%s leaves (its node closes; the others must expire it within %v)", leaver.name, expiryBound)
			leaver.node.Close()
		}
	}
	closeAll()

	mu.Lock()
	defer mu.Unlock()
	elapsed := l.since()
	if fullAt < 0 {
		if !reportedMissing {
			l.violate("discovery-liveness", "after %.3fs (the whole run) not every node knows every other: %s", elapsed.Seconds(), liveMissingPairs(ms))
		}
	} else {
		l.held("discovery-liveness", "every node knew the other %d after %.3fs (bound %v)", n-1, fullAt.Seconds(), livenessBound)
		l.metric("full_discovery_s", fullAt.Seconds())
	}
	maxGap, bcasts := time.Duration(0), 0
	for _, m := range ms {
		maxGap = max(maxGap, m.maxGap)
		bcasts += m.bcasts
	}
	l.held("progress", "%d broadcast rounds; longest gap %v (bound %v)", bcasts, maxGap.Round(time.Millisecond), progressBound)
	l.held("no-resurrection", "the peer tables held what the events said (checked every %v)", step)
	l.held("stability", "no running peer was removed")
	if leaver == nil {
		l.held("expiry", "not exercised: needs 3 nodes and -duration >= %v", leaveAt+expiryBound+2*step+LiveTolerance)
	} else {
		last := time.Duration(0)
		for _, m := range ms {
			if m.running && m.removed >= 0 {
				last = max(last, m.removed-leaver.leftAt)
			}
		}
		l.held("expiry", "%s left at %.3fs; the last peer removed it %.3fs later (bound %v)", leaver.name, leaver.leftAt.Seconds(), last.Seconds(), expiryBound)
	}
	l.metric("broadcasts_per_node_s", float64(bcasts)/float64(n)/elapsed.Seconds())
	return nil
}

// liveMissingPairs lists up to 8 "a->b" pairs where running a does not
// know running b.
func liveMissingPairs(ms []*liveDiscoveryMember) string {
	var out []string
	total := 0
	for _, m := range ms {
		for _, p := range ms {
			if m != p && m.running && p.running && !m.known[p.name] {
				total++
				if len(out) < 8 {
					out = append(out, m.name+"->"+p.name)
				}
			}
		}
	}
	return fmt.Sprintf("%d pairs missing, e.g. %v", total, out)
}
