package scenarios

import (
	"fmt"
	"slices"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/gossip"
	"github.com/detsim/detsim/protocols/gossip/proto"
	"github.com/detsim/detsim/sim"
)

// liveGossipProperties are the gossip live modes' properties.
var liveGossipProperties = []string{"join", "delivery", "no-duplicate-delivery", "no-silent-drop", "view-invariants", "symmetric-active"}

func init() {
	registerLive(&LiveMode{
		Scenario: "gossip-smoke",
		Doc: "iroh's gossip_smoke for real: two gossip nodes (fixed dispatcher) subscribe to one topic with each " +
			"other as bootstrap, node 1 broadcasts \"hello\" and node 2 must receive it within 5s (+ tolerance).",
		DefaultNodes: 2, MinNodes: 2, MaxNodes: 2,
		DefaultDuration: 5 * time.Second, MinDuration: time.Second,
		Properties: liveGossipProperties,
		Variants:   []string{"buggy"},
		run:        func(l *liveRun) error { return runLiveGossip(l, false) },
	})
	registerLive(&LiveMode{
		Scenario: "gossip-swarm",
		Doc: "N gossip nodes (HyParView + Plumtree, iroh's defaults, fixed dispatcher) join one topic, each " +
			"through up to 5 random earlier nodes; once every node has a neighbour, node 0 broadcasts every 500ms " +
			"until 2s before the end. Every broadcast must reach every node within 5s (+ tolerance), once; no " +
			"event may be silently dropped; views stay within capacity with eager and lazy peers active, and " +
			"active views are symmetric once the traffic stops.",
		DefaultNodes: 5, MinNodes: 2, MaxNodes: 100,
		DefaultDuration: 10 * time.Second, MinDuration: 2 * time.Second,
		Properties: liveGossipProperties,
		run:        func(l *liveRun) error { return runLiveGossip(l, true) },
	})
}

// liveGossipNode is one node of the gossip live modes; fields after sub are
// guarded by the workload's mutex.
type liveGossipNode struct {
	name string
	env  netmodel.Env
	node *gossip.Node
	disp *gossip.Dispatcher
	sub  *gossip.Subscription

	subscribed bool
	joinedAt   time.Duration // first NeighborUp (-1: none yet)
	emitted    int           // events the actor emitted for the topic after Subscribe
	seen       int           // events the stream delivered
	lagged     bool
	got        []bool
}

func runLiveGossip(l *liveRun, swarm bool) error {
	env, n, duration := l.env, l.cfg.Nodes, l.cfg.Duration
	const (
		every = 500 * time.Millisecond // between broadcasts
		tail  = 2 * time.Second        // the end of the run without broadcasts
	)
	bound := 5*time.Second + LiveTolerance // join, delivery, quiescence
	topic := topicID("live")
	if !swarm {
		topic = topicID("smoke")
	}
	nb := 1
	if swarm {
		nb = min(100, max(1, int((duration-tail)/every)))
	}
	sentAt := make([]time.Duration, nb)
	reached := make([]int, nb)
	lastAt := make([]time.Duration, nb) // when the last node received it
	maxRound := make([]int, nb)

	mu := env.NewMutex()
	nodes := make([]*liveGossipNode, n)
	consumers := env.NewWaitGroup()
	closeAll := func() {
		for _, g := range nodes {
			if g != nil && g.sub != nil {
				g.sub.Close()
			}
		}
		consumers.Wait()
		for _, g := range nodes {
			if g != nil && g.node != nil {
				g.node.Close()
			}
		}
	}
	for i := range nodes {
		g := &liveGossipNode{name: fmt.Sprintf("n%d", i), joinedAt: -1, got: make([]bool, nb)}
		nodes[i] = g
		var err error
		if g.env, err = l.cfg.Net.AddNode(g.name); err != nil {
			closeAll()
			return err
		}
		g.node, err = gossip.New(g.env, gossip.Options{
			ID: peerID(g.name), Variant: gossip.Variant(l.cfg.Variant),
			OnEmit: func(t proto.TopicID, _ proto.Event) {
				if t != topic {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if g.subscribed {
					g.emitted++
				}
			},
		})
		if err != nil {
			closeAll()
			return err
		}
		if err := g.node.Start(); err != nil {
			g.node = nil // not started: nothing to close
			closeAll()
			return err
		}
		g.disp = gossip.NewDispatcher(g.node)
		l.event("%s listening on %s", g.name, g.node.Addr())
	}
	byID := map[proto.PeerID]*liveGossipNode{}
	for _, g := range nodes {
		byID[g.node.ID()] = g
	}

	// Bootstrap: smoke nodes know each other; a swarm node joins through
	// up to 5 random earlier nodes (iroh's simulator), node 0 alone.
	rnd := env.Rand("gossip-live")
	bootstrap := make([][]*liveGossipNode, n)
	for i, g := range nodes {
		switch {
		case !swarm:
			bootstrap[i] = []*liveGossipNode{nodes[1-i]}
		case i > 0:
			for _, j := range rnd.Perm(i)[:min(i, 5)] {
				bootstrap[i] = append(bootstrap[i], nodes[j])
			}
		}
		for _, b := range bootstrap[i] {
			if err := g.node.AddPeer(b.node.ID(), b.node.Addr()); err != nil {
				closeAll()
				return err
			}
		}
	}

	// Subscribe every node; a consumer task per node reads its stream.
	for i, g := range nodes {
		var peers []proto.PeerID
		for _, b := range bootstrap[i] {
			peers = append(peers, b.node.ID())
		}
		mu.Lock()
		g.subscribed = true
		mu.Unlock()
		sub, err := g.disp.Subscribe(topic, peers)
		if err != nil {
			closeAll()
			return fmt.Errorf("%s: subscribe: %w", g.name, err)
		}
		mu.Lock()
		g.sub = sub
		mu.Unlock()
		consumers.Add(1)
		g.env.Go("consumer", func() {
			defer consumers.Done()
			for ev := range sub.Events().All() {
				liveGossipConsume(l, mu, g, byID, ev, sentAt, reached, lastAt, maxRound)
			}
		})
	}
	joined := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, g := range nodes {
			if g.joinedAt < 0 {
				return false
			}
		}
		return true
	}
	if !l.waitUntil(bound, 5*time.Millisecond, joined) {
		mu.Lock()
		var lonely []string
		for _, g := range nodes {
			if g.joinedAt < 0 {
				lonely = append(lonely, g.name)
			}
		}
		mu.Unlock()
		l.violate("join", "after %v %v have no neighbour", bound, lonely)
	} else {
		l.held("join", "every node had a neighbour after %.3fs (bound %v)", l.since().Seconds(), bound)
		l.event("every node has joined the topic")
	}

	// Broadcasts from node 0.
	sender := nodes[0]
	for k := range nb {
		if k > 0 {
			env.Sleep(every)
		}
		msg := fmt.Sprintf("msg-%d", k)
		if !swarm {
			msg = "hello"
		}
		mu.Lock()
		sentAt[k] = l.since()
		mu.Unlock()
		l.event("%s broadcasts %q", sender.name, msg)
		if err := sender.sub.Broadcast([]byte(msg)); err != nil {
			l.violate("delivery", "broadcast %d: %v", k, err)
		}
	}
	delivered := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for k := range nb {
			if reached[k] < n-1 {
				return false
			}
		}
		return true
	}
	l.waitUntil(sentAt[nb-1]+bound-l.since(), 5*time.Millisecond, delivered)

	// Quiescence: every event emitted for the topic reached the stream,
	// and the views settle (symmetry needs the last messages in flight).
	quiet := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, g := range nodes {
			if !g.lagged && g.seen < g.emitted {
				return false
			}
		}
		return true
	}
	l.waitUntil(bound, 10*time.Millisecond, quiet)
	inspect := func() (map[proto.PeerID]proto.TopicView, uint64) {
		views := map[proto.PeerID]proto.TopicView{}
		var received uint64
		for _, g := range nodes {
			_ = g.node.Inspect(func(st *proto.State) {
				views[g.node.ID()], _ = st.View(topic)
				received += st.Stats(topic).GossipReceived
			})
		}
		return views, received
	}
	var views map[proto.PeerID]proto.TopicView
	var gossipReceived uint64
	settled := l.waitUntil(bound, 50*time.Millisecond, func() bool {
		views, gossipReceived = inspect()
		return liveAsymmetry(nodes, views, byID) == ""
	})

	mu.Lock()
	maxLatency, totalReached, ldh := time.Duration(0), 0, 0
	for k := range nb {
		totalReached += reached[k]
		ldh += maxRound[k]
		if reached[k] < n-1 {
			var missing []string
			for _, g := range nodes[1:] {
				if !g.got[k] && len(missing) < 5 {
					missing = append(missing, g.name)
				}
			}
			l.violate("delivery", "broadcast %d reached %d of %d nodes within %v (missing e.g. %v)", k, reached[k], n-1, bound, missing)
		} else {
			maxLatency = max(maxLatency, lastAt[k]-sentAt[k])
			if lastAt[k]-sentAt[k] > bound {
				l.violate("delivery", "broadcast %d took %v to reach every node (bound %v)", k, lastAt[k]-sentAt[k], bound)
			}
		}
	}
	l.held("delivery", "%d broadcast(s) reached all %d other nodes; slowest %v (bound %v)", nb, n-1, maxLatency.Round(time.Microsecond), bound)
	l.held("no-duplicate-delivery", "no node delivered a message twice")
	for _, g := range nodes {
		if !g.lagged && g.seen < g.emitted {
			l.violate("no-silent-drop", "%s: its actor emitted %d events for the topic after subscribe, its stream delivered %d", g.name, g.emitted, g.seen)
		}
	}
	l.held("no-silent-drop", "every event the actors emitted for the topic reached its stream")
	mu.Unlock()

	cfg := proto.DefaultConfig().Membership
	for _, g := range nodes {
		v := views[g.node.ID()]
		if len(v.Active) > cfg.ActiveViewCapacity || len(v.Passive) > cfg.PassiveViewCapacity {
			l.violate("view-invariants", "%s: active %d (max %d), passive %d (max %d)", g.name, len(v.Active), cfg.ActiveViewCapacity, len(v.Passive), cfg.PassiveViewCapacity)
		}
		for _, p := range append(slices.Clone(v.Eager), v.Lazy...) {
			if !slices.Contains(v.Active, p) {
				l.violate("view-invariants", "%s: %s is eager or lazy but not active", g.name, p)
			}
		}
	}
	l.held("view-invariants", "views within capacity (active %d, passive %d); eager and lazy peers active", cfg.ActiveViewCapacity, cfg.PassiveViewCapacity)
	if !settled {
		l.violate("symmetric-active", "%s, %v after the traffic stopped", liveAsymmetry(nodes, views, byID), bound)
	}
	l.held("symmetric-active", "active views were symmetric once the traffic stopped")

	l.metric("max_delivery_ms", float64(maxLatency.Microseconds())/1000)
	l.metric("ldh", float64(ldh)/float64(nb))
	if swarm && totalReached > 0 {
		l.metric("rmr", float64(gossipReceived)/float64(totalReached)-1)
	}
	closeAll()
	return nil
}

// liveGossipConsume handles one event of g's subscription stream.
func liveGossipConsume(l *liveRun, mu sim.Mutex, g *liveGossipNode, byID map[proto.PeerID]*liveGossipNode,
	ev gossip.Event, sentAt []time.Duration, reached []int, lastAt []time.Duration, maxRound []int) {
	mu.Lock()
	defer mu.Unlock()
	g.seen++
	peer := ev.Peer.String()
	if p := byID[ev.Peer]; p != nil {
		peer = p.name
	}
	switch ev.Kind {
	case gossip.NeighborUp:
		if g.joinedAt < 0 {
			g.joinedAt = l.since()
		}
		l.event("%s: neighbour up %s", g.name, peer)
	case gossip.NeighborDown:
		l.event("%s: neighbour down %s", g.name, peer)
	case gossip.Lagged:
		g.lagged = true
		l.violate("no-silent-drop", "%s's subscription lagged and was dropped", g.name)
	case gossip.Received:
		k := 0
		if string(ev.Content) != "hello" {
			if _, err := fmt.Sscanf(string(ev.Content), "msg-%d", &k); err != nil || k < 0 || k >= len(reached) {
				l.violate("delivery", "%s received an unknown payload %q", g.name, ev.Content)
				return
			}
		}
		if g.got[k] {
			l.violate("no-duplicate-delivery", "%s delivered %q twice", g.name, ev.Content)
			return
		}
		g.got[k] = true
		reached[k]++
		at := l.since()
		lastAt[k] = max(lastAt[k], at)
		maxRound[k] = max(maxRound[k], int(ev.Scope.Round))
		l.event("%s: received %q from %s (round %d, %v after it was sent)", g.name, ev.Content, peer, ev.Scope.Round, (at - sentAt[k]).Round(time.Microsecond))
	}
}

// liveAsymmetry names a pair a-b where a has b active but not the other
// way round, or "" if the active views are symmetric.
func liveAsymmetry(nodes []*liveGossipNode, views map[proto.PeerID]proto.TopicView, byID map[proto.PeerID]*liveGossipNode) string {
	for _, g := range nodes {
		for _, p := range views[g.node.ID()].Active {
			if o, ok := byID[p]; ok && !slices.Contains(views[p].Active, g.node.ID()) {
				return fmt.Sprintf("%s has %s active, but not the other way round", g.name, o.name)
			}
		}
	}
	return ""
}
