package scenarios

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/discovery"
	"github.com/detsim/detsim/sim/scenario"
)

// discoveryMember is one host of the discovery scenario and the node
// instance currently running on it (a restart makes a new one).
type discoveryMember struct {
	name    string
	host    *netmodel.Host
	node    *discovery.Node
	joinAt  time.Duration
	started time.Duration // when the current instance started
	up      bool          // the current instance runs (host up, started)
	slow    bool          // its health server answers near the timeout
	boots   int
	lastB   time.Duration // its last broadcast
	// known is the peer table as the events describe it; seen records,
	// per peer, the boot of the peer's instance this node last discovered
	// (PeerUp or PeerUpdated).
	known map[string]bool
	seen  map[string]int
}

func init() {
	scenario.Register(&scenario.Scenario{
		Name: "discovery",
		Description: "exo's UDP broadcast discovery (udp_discovery.py) on one segment: nodes broadcast a JSON " +
			"presence every 2.5s, health-check new and known peers over a stream, and expire silent or unhealthy " +
			"ones. Some nodes join late, one crashes for good, one crashes and restarts, links lose and duplicate " +
			"datagrams, and one node's health server may answer close to the 5s timeout. The blocking variant is " +
			"exo #34 (one loop whose listen step blocks, so broadcast and cleanup only run when a datagram " +
			"arrives); racy-cleanup is #308 (a write after the health-check await resurrects a peer cleanup removed).",
		Variants: []scenario.Variant{
			{Name: "fixed", Doc: "exo after #309/#310: separate tasks, a handler per datagram, membership re-checked after every await"},
			{Name: "buggy", Doc: "exo #34: one loop per node whose listen step blocks until a datagram arrives", Buggy: true},
			{Name: "racy-cleanup", Doc: "exo #308: the write after the health-check await resurrects a removed peer", Buggy: true},
		},
		Params: []scenario.Param{
			scenario.Int("nodes", "nodes on the segment", 5, 2, 500),
			scenario.IntDrawn("late-percent", "share of the nodes that start at a random moment in the first 20s (the first half of the run, if shorter)", 0, 40),
			scenario.IntDrawn("loss-permille", "packet loss in 1/1000 (datagrams and SYNs are lost, a stream retransmits)", 0, 20),
			scenario.IntDrawn("dup-permille", "datagram duplication in 1/1000", 0, 50),
			scenario.IntDrawn("slow", "1: one node's health server answers after 4-6s (the check times out at 5s)", 0, 1),
			scenario.Duration("duration", "virtual time the nodes run", 150*time.Second, 5*time.Second, 24*time.Hour),
		},
		Probes: []string{"peer-removed-during-health-check"},
		// Metrics: full_discovery_s (from the last join until every live
		// node knows every other), datagrams_per_node_minute.
		Strategy:   "random",
		Seeds:      200,
		CheckLeaks: true,
		MaxSteps:   1 << 40, // 500 nodes health-check 250,000 presences a round
		MaxTime:    48 * time.Hour,
		Main:       runDiscovery,
	})
}

func runDiscovery(r *scenario.Run) {
	variant, err := discovery.ParseVariant(r.Variant)
	if err != nil {
		panic(err)
	}
	rnd := r.W.Rand("discovery-scenario")
	n := r.Params.Int("nodes")
	nw := r.Network(netmodel.Options{})
	link := netmodel.Link{
		Latency:   netmodel.Uniform(200*time.Microsecond, 2*time.Millisecond),
		Loss:      float64(r.Params.Int("loss-permille")) / 1000,
		Duplicate: float64(r.Params.Int("dup-permille")) / 1000,
	}
	if err := nw.AddSegment("lan", netip.MustParsePrefix("10.1.0.0/16"), link); err != nil {
		panic(err)
	}
	const (
		interval = discovery.DefaultBroadcastInterval
		timeout  = discovery.DefaultPeerTimeout
		slack    = time.Second
	)
	env := r.W
	start := env.Now()
	now := func() time.Duration { return env.Since(start) }

	ms := make([]*discoveryMember, n)
	// Late nodes start within 20s, or within the first half of a shorter
	// run, so that every node has started well before the run ends.
	lateWindow := min(20*time.Second, r.Params.Duration("duration")/2)
	late := n * r.Params.Int("late-percent") / 100
	lateSet := map[int]bool{}
	for _, i := range rnd.Perm(n)[:late] {
		lateSet[i] = true
	}
	slowIdx := -1
	if r.Params.Int("slow") == 1 && n >= 3 {
		slowIdx = rnd.Intn(n)
	}
	removedDuringCheck := false
	broadcasts := 0
	// Full discovery: every (non-slow) node knows every other, counted as
	// known ordered pairs, first reached by the first instances.
	pairs, fullAt := 0, time.Duration(-1)
	target := 0
	for i := range ms {
		m := &discoveryMember{name: fmt.Sprintf("d%d", i), slow: i == slowIdx}
		if lateSet[i] {
			m.joinAt = time.Duration(rnd.Int63n(int64(lateWindow)))
		}
		ms[i] = m
	}
	k := n
	if slowIdx >= 0 {
		k--
	}
	target = k * (k - 1)
	byID := map[string]*discoveryMember{}
	for _, m := range ms {
		byID[m.name] = m
	}
	// boot runs on every (re)start of a host: a fresh node instance.
	boot := func(m *discoveryMember, henv netmodel.Env) {
		if m.boots == 0 && m.joinAt > 0 {
			henv.Sleep(m.joinAt)
		}
		m.boots++
		if !m.slow {
			// The crashed instance's table is gone with it.
			for _, id := range slices.Sorted(maps.Keys(m.known)) {
				if p := byID[id]; p != nil && !p.slow {
					pairs--
				}
			}
		}
		m.known, m.seen = map[string]bool{}, map[string]int{}
		opts := discovery.DefaultOptions(m.name)
		opts.Variant = variant
		opts.OnEvent = func(ev discovery.Event) {
			switch ev.Kind {
			case discovery.PeerUp, discovery.PeerUpdated:
				if p := byID[ev.Peer.ID]; p != nil && !m.known[ev.Peer.ID] && !m.slow && !p.slow {
					pairs++
					if fullAt < 0 && pairs == target && m.boots == 1 && p.boots == 1 {
						fullAt = now()
					}
				}
				m.known[ev.Peer.ID] = true
				if p := byID[ev.Peer.ID]; p != nil {
					m.seen[ev.Peer.ID] = p.boots
				}
			case discovery.PeerDown:
				if p := byID[ev.Peer.ID]; p != nil && m.known[ev.Peer.ID] && !m.slow && !p.slow {
					pairs--
				}
				delete(m.known, ev.Peer.ID)
				if p := byID[ev.Peer.ID]; p != nil && p.up && m.up && ev.Reason == discovery.ReasonTimeout {
					// Stability: a live, broadcasting peer is never
					// expired (a failed health check may remove it:
					// exo checks on every presence, and a check can
					// fail when every SYN is lost; the next presence
					// adds it back).
					if now()-p.started > timeout && now()-p.lastB < interval+slack {
						r.Violate("stability", "%s removed %s (%s) at t=%v although %s is up, healthy and broadcast at t=%v",
							m.name, p.name, ev.Reason, now(), p.name, p.lastB)
					}
				}
			}
		}
		opts.Hooks = discovery.Hooks{
			OnBroadcast: func(time.Time) { m.lastB = now(); broadcasts++ },
			OnResurrect: func(string) { removedDuringCheck = true },
		}
		node, err := discovery.New(henv, opts)
		if err != nil {
			panic(err)
		}
		if m.slow {
			node.SetHealthDelay(4*time.Second + time.Duration(rnd.Int63n(int64(2*time.Second))))
		}
		if err := node.Start(); err != nil {
			panic(err)
		}
		m.node, m.up, m.started, m.lastB = node, true, now(), now()
	}
	for i, m := range ms {
		h, err := nw.AddHost(m.name, func(henv netmodel.Env) { boot(m, henv) },
			netmodel.Iface{Segment: "lan", Addr: netip.AddrFrom4([4]byte{10, 1, byte((i + 1) / 250), byte((i+1)%250 + 1)})})
		if err != nil {
			panic(err)
		}
		m.host = h
	}

	// Faults: one node crashes for good, another crashes and restarts.
	crashVictim, restartVictim := -1, -1
	var crashAt, restartDownAt, restartUpAt time.Duration
	if n >= 3 {
		perm := rnd.Perm(n)
		crashVictim, restartVictim = perm[0], perm[1]
		crashAt = 40*time.Second + time.Duration(rnd.Int63n(int64(20*time.Second)))
		restartDownAt = 20*time.Second + time.Duration(rnd.Int63n(int64(20*time.Second)))
		restartUpAt = restartDownAt + 5*time.Second + time.Duration(rnd.Int63n(int64(15*time.Second)))
		crash := func(m *discoveryMember) {
			m.up = false
			if err := nw.Crash(m.name); err != nil {
				panic(err)
			}
		}
		cv, rv := ms[crashVictim], ms[restartVictim]
		env.ScheduleFunc(crashAt, func() { crash(cv) })
		env.ScheduleFunc(restartDownAt, func() { crash(rv) })
		env.ScheduleFunc(restartUpAt, func() {
			if err := nw.Restart(rv.name); err != nil {
				panic(err)
			}
		})
	}
	// lastJoin is the last start of any node; full discovery is measured
	// from the last start of a node it counts (the slow one is left out).
	lastJoin, lastCounted := time.Duration(0), time.Duration(0)
	for _, m := range ms {
		lastJoin = max(lastJoin, m.joinAt)
		if !m.slow {
			lastCounted = max(lastCounted, m.joinAt)
		}
	}

	// A monitor checks progress, resurrection and expiry every 250ms.
	duration := r.Params.Duration("duration")
	liveness := func(at time.Duration) {
		for _, m := range ms {
			if !m.up || m.slow {
				continue
			}
			var missing []string
			for _, p := range ms {
				if p != m && p.up && !p.slow && !m.known[p.name] && m.seen[p.name] != p.boots && now()-max(p.started, m.started) >= 4*interval {
					missing = append(missing, p.name)
				}
			}
			if len(missing) > 0 {
				r.Violate("discovery-liveness", "at t=%v %s has not discovered %v (last join at %v)", at, m.name, missing, lastJoin)
			}
		}
	}
	for now() < duration {
		env.Sleep(250 * time.Millisecond)
		t := now()
		for _, m := range ms {
			if !m.up {
				continue
			}
			// Progress: every node broadcasts at least once per interval
			// (plus a little slack), so its loop is never held longer.
			if t-m.lastB > interval+slack {
				r.Violate("progress", "%s has not broadcast since t=%v (now t=%v, interval %v): its loop is blocked", m.name, m.lastB, t, interval)
			}
			// No resurrection: the peer table holds exactly what the
			// events put there.
			for _, p := range m.node.Peers() {
				if !m.known[p.ID] {
					r.Violate("no-resurrection", "%s lists %s, which its last event about it removed (a write after an await brought it back)", m.name, p.ID)
				}
			}
			// Expiry: the crashed node is gone within the timeout plus an
			// interval (plus a connect timeout for a check in flight).
			if crashVictim >= 0 && t > crashAt+timeout+interval+discovery.DefaultConnectTimeout && m.known[ms[crashVictim].name] {
				r.Violate("expiry", "%s still lists %s at t=%v; it crashed at t=%v", m.name, ms[crashVictim].name, t, crashAt)
			}
		}
		// Discovery liveness: after the last join and after the restart,
		// every live node knows every other live node within 4 intervals.
		for _, at := range []time.Duration{lastJoin + 4*interval + slack, restartUpAt + 4*interval + slack} {
			if at > 0 && t >= at && t-250*time.Millisecond < at {
				liveness(at)
			}
		}
	}
	r.Sometimes("peer-removed-during-health-check", removedDuringCheck)
	if fullAt >= 0 {
		if fullAt < lastCounted {
			r.Violate("metric", "full discovery at t=%v before the last counted node started at t=%v", fullAt, lastCounted)
		}
		r.Metric("full_discovery_s", (fullAt - lastCounted).Seconds())
	}
	r.Metric("datagrams_per_node_minute", float64(broadcasts)/float64(n)/duration.Minutes())
	for _, m := range ms {
		if m.up {
			m.node.Close()
		}
	}
}
