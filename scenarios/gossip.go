package scenarios

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/gossip"
	"github.com/detsim/detsim/protocols/gossip/proto"
	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
)

// gossipVariants are the dispatcher variants of the gossip scenarios.
var gossipVariants = []scenario.Variant{
	{Name: "fixed", Doc: "iroh-gossip #2482: an event for a topic still joining makes it Live first"},
	{Name: "buggy", Doc: "before #2482: dispatch_loop drops events of a topic still joining (iroh #2460)", Buggy: true},
}

// peerID derives a node id from a name (iroh: the node's public key).
func peerID(name string) proto.PeerID { return proto.PeerID(sha256.Sum256([]byte("peer/" + name))) }

// topicID derives a topic id from a name.
func topicID(name string) proto.TopicID { return proto.TopicID(sha256.Sum256([]byte("topic/" + name))) }

func init() {
	scenario.Register(&scenario.Scenario{
		Name: "gossip-smoke",
		Description: "iroh's gossip_smoke test on the real HyParView/Plumtree stack, actor and dispatcher: two " +
			"nodes subscribe to one topic with each other as bootstrap, node 1 broadcasts \"hello\" and node 2 " +
			"must receive it within a bound. With two dispatchers (iroh #2460) node 2's dispatch_loop can see " +
			"NeighborUp and the message while its join_task has not yet marked the topic Live, and drops them.",
		Variants: gossipVariants,
		Params: []scenario.Param{
			scenario.Duration("latency", "one-way link latency", time.Millisecond, 0, time.Second),
			scenario.Duration("bound", "virtual time within which node 2 must receive the message", 5*time.Second, time.Millisecond, time.Hour),
		},
		Probes:     []string{"delivered-while-joining"},
		Strategy:   "random",
		Seeds:      2000,
		CheckLeaks: true,
		MaxTime:    time.Hour,
		Main: func(r *scenario.Run) {
			variant, err := gossip.ParseVariant(r.Variant)
			if err != nil {
				panic(err)
			}
			nw := r.Network(netmodel.Options{})
			if err := nw.AddSegment("lan", netip.MustParsePrefix("10.0.0.0/24"), netmodel.Link{Latency: netmodel.Constant(r.Params.Duration("latency"))}); err != nil {
				panic(err)
			}
			topic := topicID("smoke")
			type member struct {
				node *gossip.Node
				disp *gossip.Dispatcher
				// emitted counts the events node's actor emitted for the
				// topic after Subscribe returned.
				emitted    int
				subscribed bool
			}
			ms := make([]*member, 2)
			for i := range ms {
				h, err := nw.AddHost(fmt.Sprintf("node%d", i+1), nil, netmodel.Iface{Segment: "lan", Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})})
				if err != nil {
					panic(err)
				}
				m := &member{}
				n, err := gossip.New(h.Env(), gossip.Options{
					ID: peerID(fmt.Sprintf("node%d", i+1)), Variant: variant,
					OnEmit: func(t proto.TopicID, _ proto.Event) {
						if t == topic && m.subscribed {
							m.emitted++
						}
					},
				})
				if err != nil {
					panic(err)
				}
				if err := n.Start(); err != nil {
					panic(err)
				}
				m.node, m.disp = n, gossip.NewDispatcher(n)
				ms[i] = m
			}
			for i, m := range ms {
				o := ms[1-i].node
				if err := m.node.AddPeer(o.ID(), o.Addr()); err != nil {
					panic(err)
				}
			}
			sub1, err := ms[0].disp.Subscribe(topic, []proto.PeerID{ms[1].node.ID()})
			if err != nil {
				panic(err)
			}
			ms[0].subscribed = true
			sub2, err := ms[1].disp.Subscribe(topic, []proto.PeerID{ms[0].node.ID()})
			if err != nil {
				panic(err)
			}
			ms[1].subscribed = true
			if err := sub1.Broadcast([]byte("hello")); err != nil {
				panic(err)
			}

			env := r.W
			deadline := env.NewTimer(r.Params.Duration("bound"))
			got := 0 // events seen on node 2's stream (for the message)
			for received := false; !received; {
				var ev gossip.Event
				var ok bool
				if sim.Select(env, sim.RecvCase(sub2.Events(), &ev, &ok), sim.RecvCase(deadline.C(), nil, nil)) == 1 {
					r.Violate("delivery", "node 2 did not receive \"hello\" within %v (%d of the %d events node 2's actor emitted for the topic reached its stream)",
						r.Params.Duration("bound"), got, ms[1].emitted)
					break
				}
				if !ok {
					r.Violate("delivery", "node 2's subscription ended before \"hello\" arrived")
					break
				}
				got++
				if ev.Kind == gossip.Received {
					received = true
					if string(ev.Content) != "hello" {
						r.Violate("delivery", "node 2 received %q, want \"hello\"", ev.Content)
					}
				}
			}
			deadline.Stop()
			r.Sometimes("delivered-while-joining", ms[1].disp.JoiningEvents() > 0)
			sub1.Close()
			sub2.Close()
			for _, m := range ms {
				m.node.Close()
			}
		},
	})
}

// swarmNode is one member of the gossip-swarm scenario.
type swarmNode struct {
	idx    int
	name   string
	host   *netmodel.Host
	node   *gossip.Node
	disp   *gossip.Dispatcher
	sub    *gossip.Subscription
	joinAt time.Duration
	alive  bool
	// Events the actor emitted for the topic after Subscribe returned, and
	// events the subscription's stream delivered (Lagged included).
	subscribed bool
	emitted    int
	seen       int
	lagged     bool
	got        []bool // got[k]: broadcast k received
}

// swarmBroadcast is the record of one broadcast of the swarm scenario.
type swarmBroadcast struct {
	reached  int // distinct nodes that delivered it (not the sender)
	maxRound int // last delivery hop
}

func init() {
	scenario.Register(&scenario.Scenario{
		Name: "gossip-swarm",
		Description: "A swarm of gossip nodes (HyParView + Plumtree, iroh's defaults) joining one topic through a " +
			"bootstrap pattern while links lose packets (stream retransmissions) and some nodes crash; then a " +
			"warm-up, an optional massive failure (kill a share of the nodes at once), and broadcasts from one " +
			"sender. Properties: no event silently dropped for a live subscription; view sizes within capacity; " +
			"eager ∪ lazy ⊆ active; active views symmetric at quiescence; 100% delivery in the stable phase to the " +
			"live nodes connected to the sender through active views; with bootstrap=random, no node cut off. " +
			"Metrics: reliability, RMR = m/(n-1) - 1, last delivery hop, nodes cut off from the sender's overlay.",
		Variants: gossipVariants,
		Params: []scenario.Param{
			scenario.Int("nodes", "swarm size", 100, 2, 10000),
			scenario.Choice("bootstrap", "how nodes join: random (through up to 5 random earlier nodes), iroh (as iroh-gossip's "+
				"simulator: through one of the first 5 nodes), star (through node 0) or chain (through the previous node); with "+
				"one contact, iroh's HyParView can leave a node or a cluster cut off (a refused refill is not retried)",
				"random", "random", "iroh", "star", "chain"),
			scenario.Duration("join-window", "nodes subscribe at random moments in this window", 20*time.Second, 0, 24*time.Hour),
			scenario.IntDrawn("loss-permille", "segment packet loss in 1/1000 (a stream retransmits)", 0, 20),
			scenario.Duration("warmup", "quiet time after the join window (HyParView shuffles every 60s fill the passive views)", 90*time.Second, 0, 24*time.Hour),
			scenario.IntDrawn("crash-percent", "share of the nodes (not the sender) that crash at random moments in the 10s after the warm-up", 0, 10),
			scenario.Int("kill-percent", "share of the live nodes (not the sender) killed at once after the warm-up", 0, 0, 95),
			scenario.Int("broadcasts", "broadcasts of the stable phase, one per second", 10, 1, 100000),
		},
		Probes:     []string{"joining-events"},
		Strategy:   "random",
		Seeds:      50,
		CheckLeaks: true,
		MaxSteps:   1 << 40,
		MaxTime:    24 * time.Hour,
		Main:       runGossipSwarm,
	})
}

func runGossipSwarm(r *scenario.Run) {
	variant, err := gossip.ParseVariant(r.Variant)
	if err != nil {
		panic(err)
	}
	rnd := r.W.Rand("gossip-swarm")
	nNodes := r.Params.Int("nodes")
	nw := r.Network(netmodel.Options{})
	link := netmodel.Link{Latency: netmodel.Uniform(time.Millisecond, 10*time.Millisecond), Loss: float64(r.Params.Int("loss-permille")) / 1000}
	if err := nw.AddSegment("lan", netip.MustParsePrefix("10.0.0.0/16"), link); err != nil {
		panic(err)
	}
	topic := topicID("swarm")
	nb := r.Params.Int("broadcasts")
	window := r.Params.Duration("join-window")
	nodes := make([]*swarmNode, nNodes)
	for i := range nodes {
		sn := &swarmNode{idx: i, name: fmt.Sprintf("n%d", i), alive: true}
		sn.host, err = nw.AddHost(sn.name, nil, netmodel.Iface{Segment: "lan", Addr: netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(i%250 + 1)})})
		if err != nil {
			panic(err)
		}
		if i > 0 && window > 0 {
			sn.joinAt = time.Duration(rnd.Int63n(int64(window)))
		}
		nodes[i] = sn
	}
	// Join order: node 0 first, then by join time (ties by index).
	order := make([]*swarmNode, nNodes)
	copy(order, nodes)
	slices.SortStableFunc(order, func(a, b *swarmNode) int { return cmp.Compare(a.joinAt, b.joinAt) })
	bootstrap := make([][]*swarmNode, nNodes)
	pattern := r.Params.String("bootstrap")
	for k, sn := range order {
		switch {
		case k == 0:
		case pattern == "star":
			bootstrap[sn.idx] = []*swarmNode{order[0]}
		case pattern == "chain":
			bootstrap[sn.idx] = []*swarmNode{order[k-1]}
		case pattern == "iroh":
			// iroh-gossip's simulator (BootstrapMode::Set with 5): the
			// first five nodes join through node 0, every later node
			// through one of those five.
			if k < 5 {
				bootstrap[sn.idx] = []*swarmNode{order[0]}
			} else {
				bootstrap[sn.idx] = []*swarmNode{order[rnd.Intn(5)]}
			}
		default:
			for _, j := range rnd.Perm(k)[:min(k, 5)] {
				bootstrap[sn.idx] = append(bootstrap[sn.idx], order[j])
			}
		}
	}
	records := make([]swarmBroadcast, 2*nb)
	for _, sn := range nodes {
		sn.got = make([]bool, len(records))
		env := sn.host.Env()
		sn.node, err = gossip.New(env, gossip.Options{
			ID: peerID(sn.name), Variant: variant,
			OnEmit: func(t proto.TopicID, _ proto.Event) {
				if t == topic && sn.subscribed {
					sn.emitted++
				}
			},
		})
		if err != nil {
			panic(err)
		}
		if err := sn.node.Start(); err != nil {
			panic(err)
		}
		sn.disp = gossip.NewDispatcher(sn.node)
	}
	for _, sn := range nodes {
		for _, b := range bootstrap[sn.idx] {
			if err := sn.node.AddPeer(b.node.ID(), b.node.Addr()); err != nil {
				panic(err)
			}
		}
	}

	// Subscribe each node at its moment; a consumer task per node counts
	// what its stream delivers.
	subscribe := func(sn *swarmNode) {
		peers := make([]proto.PeerID, 0, len(bootstrap[sn.idx]))
		for _, b := range bootstrap[sn.idx] {
			peers = append(peers, b.node.ID())
		}
		sub, err := sn.disp.Subscribe(topic, peers)
		if err != nil {
			r.Violate("subscribe", "%s: %v", sn.name, err)
			return
		}
		sn.sub, sn.subscribed = sub, true
		sn.host.Env().Go("consumer", func() {
			for ev := range sub.Events().All() {
				sn.seen++
				switch ev.Kind {
				case gossip.Lagged:
					sn.lagged = true
				case gossip.Received:
					var k int
					if _, err := fmt.Sscanf(string(ev.Content), "msg-%d", &k); err != nil || k < 0 || k >= len(records) {
						r.Violate("payload", "%s received an unknown payload %q", sn.name, ev.Content)
						continue
					}
					if sn.got[k] {
						r.Violate("duplicate-delivery", "%s delivered broadcast %d twice", sn.name, k)
					}
					sn.got[k] = true
					records[k].reached++
					records[k].maxRound = max(records[k].maxRound, int(ev.Scope.Round))
				}
			}
		})
	}
	env := r.W
	start := env.Now()
	for _, sn := range order {
		env.Sleep(sn.joinAt - env.Since(start))
		if sn.alive {
			subscribe(sn)
		}
	}
	env.Sleep(window - env.Since(start) + r.Params.Duration("warmup"))

	// Churn: crashes at random moments in the next 10s (never node 0, the
	// sender), then the overlay heals.
	const churn = 10 * time.Second
	crashes := nNodes * r.Params.Int("crash-percent") / 100
	for _, i := range rnd.Perm(nNodes - 1)[:crashes] {
		sn := nodes[i+1]
		r.W.ScheduleFunc(time.Duration(rnd.Int63n(int64(churn))), func() {
			if sn.alive {
				sn.alive = false
				if err := nw.Crash(sn.name); err != nil {
					panic(err)
				}
			}
		})
	}
	if crashes > 0 {
		env.Sleep(churn + 10*time.Second)
	}

	sender := nodes[0]
	alive := func() int {
		c := 0
		for _, sn := range nodes {
			if sn.alive && sn.subscribed {
				c++
			}
		}
		return c
	}
	broadcast := func(k int) {
		if err := sender.sub.Broadcast([]byte(fmt.Sprintf("msg-%d", k))); err != nil {
			r.Violate("broadcast", "broadcast %d: %v", k, err)
		}
		env.Sleep(time.Second)
	}
	// gossipReceived sums the payload messages every live node received.
	gossipReceived := func() uint64 {
		var m uint64
		for _, sn := range nodes {
			if sn.alive {
				_ = sn.node.Inspect(func(st *proto.State) { m += st.Stats(topic).GossipReceived })
			}
		}
		return m
	}

	// Massive failure, then broadcasts into the broken overlay.
	reliability := func(from, to int) float64 {
		n := alive() - 1
		if n <= 0 || to <= from {
			return 1
		}
		sum := 0.0
		for k := from; k < to; k++ {
			sum += float64(records[k].reached) / float64(n)
		}
		return sum / float64(to-from)
	}
	if kill := r.Params.Int("kill-percent"); kill > 0 {
		var live []*swarmNode
		for _, sn := range nodes[1:] {
			if sn.alive {
				live = append(live, sn)
			}
		}
		for _, j := range rnd.Perm(len(live))[:len(live)*kill/100] {
			live[j].alive = false
			if err := nw.Crash(live[j].name); err != nil {
				panic(err)
			}
		}
		for k := nb; k < 2*nb; k++ {
			broadcast(k)
		}
		r.Metric("reliability_after_kill", reliability(nb, 2*nb))
		r.Metric("reliability_first_after_kill", reliability(nb, nb+1))
		env.Sleep(10 * time.Second) // the overlay heals
	}

	// The stable phase: every broadcast reaches every live node.
	m0 := gossipReceived()
	half := (nb + 1) / 2
	for k := 0; k < half; k++ {
		broadcast(k)
	}
	mh := gossipReceived()
	for k := half; k < nb; k++ {
		broadcast(k)
	}
	m1 := gossipReceived()
	env.Sleep(2 * time.Second)
	n := alive() - 1
	ldh, reachedFirst, reachedLast := 0, 0, 0
	for k := 0; k < nb; k++ {
		ldh += records[k].maxRound
		if k < half {
			reachedFirst += records[k].reached
		} else {
			reachedLast += records[k].reached
		}
	}
	r.Metric("reliability", reliability(0, nb))
	r.Metric("ldh", float64(ldh)/float64(nb))
	// RMR = m/(n-1) - 1 summed over broadcasts: payload messages received
	// per node reached, minus one. The first half shows the flood that
	// builds the tree, the second half the tree.
	if reachedFirst > 0 {
		r.Metric("rmr_first_half", float64(mh-m0)/float64(reachedFirst)-1)
	}
	if reachedLast > 0 {
		r.Metric("rmr", float64(m1-mh)/float64(reachedLast)-1)
	}
	r.Metric("nodes_alive", float64(n+1))

	// Quiescence: views, symmetry, no silent drop.
	views := map[proto.PeerID]proto.TopicView{}
	byID := map[proto.PeerID]*swarmNode{}
	joining := 0
	for _, sn := range nodes {
		if !sn.alive || !sn.subscribed {
			continue
		}
		byID[sn.node.ID()] = sn
		joining += sn.disp.JoiningEvents()
		_ = sn.node.Inspect(func(st *proto.State) {
			v, _ := st.View(topic)
			views[sn.node.ID()] = v
		})
	}
	r.Sometimes("joining-events", joining > 0)

	// Stable delivery, over the sender's part of the overlay (the live
	// nodes it reaches through active views): Plumtree delivers within a
	// connected overlay. With one bootstrap contact, iroh's HyParView can
	// leave a node or a small cluster cut off for good (a refused refill is
	// not retried): the cut_off metric counts them. With bootstrap=random
	// every node must end up connected (overlay-connected).
	reach := overlayComponent(views, sender.node.ID())
	cutOff := 0
	var cutNames []string
	for _, sn := range nodes {
		if _, ok := views[sn.node.ID()]; ok && !reach[sn.node.ID()] {
			cutOff++
			if len(cutNames) < 5 {
				cutNames = append(cutNames, sn.name)
			}
		}
	}
	r.Metric("cut_off", float64(cutOff))
	if cutOff > 0 && pattern == "random" {
		r.Violate("overlay-connected", "%d live nodes are cut off from the sender's overlay (e.g. %v)", cutOff, cutNames)
	}
	for k := 0; k < nb; k++ {
		// Counted over the connected nodes only: a node cut off later
		// may have received it.
		reached := 0
		var missing []string
		for _, sn := range nodes[1:] {
			if !sn.alive || !sn.subscribed || !reach[sn.node.ID()] {
				continue
			}
			if sn.got[k] {
				reached++
			} else if len(missing) < 5 {
				missing = append(missing, sn.name)
			}
		}
		if reached < n-cutOff {
			r.Violate("stable-delivery", "broadcast %d of the stable phase reached %d of the %d live nodes connected to the sender (%d cut off; missing e.g. %v)", k, reached, n-cutOff, cutOff, missing)
		}
	}
	cfg := proto.DefaultConfig().Membership
	for _, sn := range nodes {
		v, ok := views[sn.node.ID()]
		if !ok {
			continue
		}
		if len(v.Active) > cfg.ActiveViewCapacity || len(v.Passive) > cfg.PassiveViewCapacity {
			r.Violate("view-capacity", "%s: active %d (max %d), passive %d (max %d)", sn.name, len(v.Active), cfg.ActiveViewCapacity, len(v.Passive), cfg.PassiveViewCapacity)
		}
		for _, p := range append(slices.Clone(v.Eager), v.Lazy...) {
			if !slices.Contains(v.Active, p) {
				r.Violate("eager-lazy-in-active", "%s: %s is eager or lazy but not active", sn.name, p)
			}
		}
		for _, p := range v.Active {
			if o, ok := byID[p]; ok && !slices.Contains(views[p].Active, sn.node.ID()) {
				r.Violate("symmetric-active", "%s has %s active, but not the other way round", sn.name, o.name)
			}
		}
		if !sn.lagged && sn.seen < sn.emitted {
			r.Violate("no-silent-drop", "%s: its actor emitted %d events for the topic after subscribe, its stream delivered %d", sn.name, sn.emitted, sn.seen)
		}
	}
	// Shut the swarm down at once, as a test tearing down its nodes in
	// parallel: each node closes in a task of its own host (a node's
	// Close waits for its dials in progress, up to the dial timeout).
	closing := r.W.NewWaitGroup()
	for _, sn := range nodes {
		if sn.alive {
			closing.Add(1)
			sn.host.Env().Go("close", func() {
				defer closing.Done()
				if sn.sub != nil {
					sn.sub.Close()
				}
				sn.node.Close()
			})
		}
	}
	closing.Wait()
}

// overlayComponent returns the nodes reachable from root through active
// views (an edge if either end holds the other active).
func overlayComponent(views map[proto.PeerID]proto.TopicView, root proto.PeerID) map[proto.PeerID]bool {
	adj := map[proto.PeerID][]proto.PeerID{}
	for _, id := range slices.SortedFunc(maps.Keys(views), func(a, b proto.PeerID) int { return bytes.Compare(a[:], b[:]) }) {
		for _, p := range views[id].Active {
			if _, ok := views[p]; ok {
				adj[id] = append(adj[id], p)
				adj[p] = append(adj[p], id)
			}
		}
	}
	seen := map[proto.PeerID]bool{root: true}
	queue := []proto.PeerID{root}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, p := range adj[id] {
			if !seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	return seen
}
