package gossip_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/gossip"
	"github.com/detsim/detsim/protocols/gossip/proto"
	"github.com/detsim/detsim/protocols/gossip/wire"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// --- Harness ---

func peerID(name string) proto.PeerID { return proto.PeerID(sha256.Sum256([]byte("peer/" + name))) }

func topicID(name string) proto.TopicID { return proto.TopicID(sha256.Sum256([]byte("topic/" + name))) }

// gnet is a leak-checked World with one LAN segment (1ms one-way latency)
// and the hosts the test added: host i is called names[i] at 10.0.0.(i+1).
type gnet struct {
	w     *sim.World
	nw    *netmodel.Network
	hosts []*netmodel.Host
}

func newGNet(t testing.TB, seed uint64, strat sim.Strategy, names ...string) *gnet {
	t.Helper()
	return newGNetOpts(t, sim.Options{Seed: seed, Strategy: strat, CheckLeaks: true}, names...)
}

func newGNetOpts(t testing.TB, opts sim.Options, names ...string) *gnet {
	t.Helper()
	w, err := sim.New(opts)
	require.NoError(t, err)
	nw, err := netmodel.New(w, netmodel.Options{})
	require.NoError(t, err)
	require.NoError(t, nw.AddSegment("lan", netip.MustParsePrefix("10.0.0.0/24"),
		netmodel.Link{Latency: netmodel.Constant(time.Millisecond)}))
	g := &gnet{w: w, nw: nw}
	for i, name := range names {
		h, err := nw.AddHost(name, nil, netmodel.Iface{Segment: "lan", Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})})
		require.NoError(t, err)
		g.hosts = append(g.hosts, h)
	}
	return g
}

// run runs main and returns the result; the caller decides whether a
// failure fails the test.
func (g *gnet) run(t testing.TB, main func()) sim.Result {
	t.Helper()
	res, err := g.w.Run(main)
	require.NoError(t, err)
	return res
}

// mustRun is run that fails t on any run failure (panic, deadlock, leak,
// violation, budget).
func (g *gnet) mustRun(t testing.TB, main func()) sim.Result {
	t.Helper()
	res := g.run(t, main)
	if res.Failure != nil {
		t.Fatalf("run failed (%v): %v\n%s", res, res.Failure, res.Failure.Stack)
	}
	return res
}

// check reports err inside a simulated task: an assertion failure, and a
// violation that ends the run (and unwinds the calling task at once).
func check(t testing.TB, w *sim.World, err error, what string) {
	if err != nil {
		assert.NoError(t, err, what)
		w.Violate(what, "%v", err)
	}
}

// member is one gossip node of a test with its dispatcher, subscription
// and a consumer task recording the subscription's stream.
type member struct {
	name    string
	host    *netmodel.Host
	node    *gossip.Node
	disp    *gossip.Dispatcher
	sub     *gossip.Subscription
	topic   proto.TopicID
	emitted []proto.Event // OnEmit for topic
	// subscribed is len(emitted) when Subscribe returned: every event the
	// actor emits from then on must reach the stream (fixed variant).
	subscribed int
	events     []gossip.Event // what the stream delivered
	ended      bool           // the stream was closed
	connErr    []error
}

// startMember makes, starts and wraps a node on host h (inside a run).
func startMember(t testing.TB, g *gnet, h *netmodel.Host, topic proto.TopicID, opts gossip.Options) *member {
	m := &member{name: h.Name(), host: h, topic: topic}
	if opts.ID == (proto.PeerID{}) {
		opts.ID = peerID(h.Name())
	}
	opts.OnEmit = func(tp proto.TopicID, ev proto.Event) {
		if tp == topic {
			m.emitted = append(m.emitted, ev)
		}
	}
	opts.OnConnError = func(_ proto.PeerID, err error) { m.connErr = append(m.connErr, err) }
	n, err := gossip.New(h.Env(), opts)
	check(t, g.w, err, "new "+h.Name())
	check(t, g.w, n.Start(), "start "+h.Name())
	m.node, m.disp = n, gossip.NewDispatcher(n)
	return m
}

// subscribe subscribes m to its topic through bootstrap and starts the
// consumer task recording the stream.
func (m *member) subscribe(t testing.TB, g *gnet, bootstrap ...*member) {
	var peers []proto.PeerID
	for _, b := range bootstrap {
		check(t, g.w, m.node.AddPeer(b.node.ID(), b.node.Addr()), "addpeer")
		peers = append(peers, b.node.ID())
	}
	sub, err := m.disp.Subscribe(m.topic, peers)
	m.subscribed = len(m.emitted)
	check(t, g.w, err, "subscribe "+m.name)
	m.sub = sub
	m.host.Env().Go("consumer", func() {
		for ev := range sub.Events().All() {
			m.events = append(m.events, ev)
		}
		m.ended = true
	})
}

// count is the number of stream events of kind k from peer (any peer if
// zero) whose content is content (any if nil).
func (m *member) count(k gossip.EventKind, peer proto.PeerID, content []byte) int {
	c := 0
	for _, ev := range m.events {
		if ev.Kind == k && (peer == (proto.PeerID{}) || ev.Peer == peer) && (content == nil || string(ev.Content) == string(content)) {
			c++
		}
	}
	return c
}

// waitFor polls cond every millisecond of virtual time for up to timeout.
func waitFor(env sim.Env, timeout time.Duration, cond func() bool) bool {
	deadline := env.Now().Add(timeout)
	for !cond() {
		if !env.Now().Before(deadline) {
			return false
		}
		env.Sleep(time.Millisecond)
	}
	return true
}

func kinds(evs []gossip.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = fmt.Sprintf("%v(%s)", ev.Kind, ev.Peer)
	}
	return out
}

// --- 1. Smoke ---

// pairRun is iroh's gossip_smoke: two nodes subscribe to one topic at the
// same virtual instant with each other as bootstrap; node 1 broadcasts
// "hello" (and node 2 "world" if both), then the run waits settle of
// virtual time and closes everything.
type pairRun struct {
	ms      [2]*member
	joining [2]int
	// emitted and seen snapshot, before closing, how many events node i's
	// actor emitted for the topic and its stream delivered.
	emitted, seen [2]int
	res           sim.Result
}

func runPair(t testing.TB, seed uint64, strat sim.Strategy, variant gossip.Variant, both bool, settle time.Duration) *pairRun {
	t.Helper()
	return runPairOn(t, newGNet(t, seed, strat, "node1", "node2"), variant, both, settle)
}

func runPairOn(t testing.TB, g *gnet, variant gossip.Variant, both bool, settle time.Duration) *pairRun {
	t.Helper()
	pr := &pairRun{}
	topic := topicID("smoke")
	pr.res = g.run(t, func() {
		for i := range pr.ms {
			pr.ms[i] = startMember(t, g, g.hosts[i], topic, gossip.Options{Variant: variant})
		}
		a, b := pr.ms[0], pr.ms[1]
		a.subscribe(t, g, b)
		b.subscribe(t, g, a)
		check(t, g.w, a.sub.Broadcast([]byte("hello")), "broadcast 1")
		if both {
			check(t, g.w, b.sub.Broadcast([]byte("world")), "broadcast 2")
		}
		g.w.Sleep(settle)
		for i, m := range pr.ms {
			pr.joining[i] = m.disp.JoiningEvents()
			pr.emitted[i], pr.seen[i] = len(m.emitted), len(m.events)
		}
		for _, m := range pr.ms {
			m.sub.Close()
		}
		for _, m := range pr.ms {
			m.node.Close()
		}
	})
	return pr
}

func TestSmokeTwoNodesFixed(t *testing.T) {
	pr := runPair(t, 1, sim.Strategy{}, gossip.Fixed, false, 3*time.Second)
	require.Nil(t, pr.res.Failure, "%v", pr.res.Failure) // includes the leak check
	n1, n2 := pr.ms[0], pr.ms[1]
	// Node 2's stream: its neighbour comes up, then the message, delivered
	// by node 1 directly: Round 0 (the origin's eager push; a delivery is
	// reported with the round it arrived with, the hop count before it).
	want := []gossip.Event{
		{Kind: gossip.NeighborUp, Peer: n1.node.ID()},
		{Kind: gossip.Received, Peer: n1.node.ID(), Content: []byte("hello"), Scope: proto.DeliveryScope{Round: 0}},
	}
	assert.Equal(t, want, n2.events, "%v", kinds(n2.events))
	assert.Equal(t, []gossip.Event{{Kind: gossip.NeighborUp, Peer: n2.node.ID()}}, n1.events, "the sender does not receive its own broadcast")
	assert.True(t, n1.ended && n2.ended, "streams closed by Subscription.Close")
	assert.Equal(t, pr.emitted, pr.seen, "fixed: every event emitted for the topic reached the stream")
	assert.Empty(t, n1.connErr)
	assert.Empty(t, n2.connErr)
}

// --- 2. A line of five ---

type lineRun struct {
	ms  []*member
	res sim.Result
}

// runLine: five nodes; node i subscribes through node i-1 once node i-1
// is joined; then node 0 broadcasts "line" and the run waits 2s.
func runLine(t testing.TB, seed uint64) *lineRun {
	t.Helper()
	names := []string{"n0", "n1", "n2", "n3", "n4"}
	g := newGNet(t, seed, sim.Strategy{}, names...)
	lr := &lineRun{}
	topic := topicID("line")
	lr.res = g.run(t, func() {
		for _, h := range g.hosts {
			lr.ms = append(lr.ms, startMember(t, g, h, topic, gossip.Options{}))
		}
		lr.ms[0].subscribe(t, g)
		for i := 1; i < len(lr.ms); i++ {
			m, prev := lr.ms[i], lr.ms[i-1]
			m.subscribe(t, g, prev)
			if !waitFor(g.w, 5*time.Second, func() bool { return m.count(gossip.NeighborUp, proto.PeerID{}, nil) > 0 }) {
				g.w.Violate("join", "%s has no neighbour 5s after subscribing through %s", m.name, prev.name)
			}
		}
		g.w.Sleep(time.Second)
		check(t, g.w, lr.ms[0].sub.Broadcast([]byte("line")), "broadcast")
		g.w.Sleep(2 * time.Second)
		for _, m := range lr.ms {
			m.sub.Close()
		}
		for _, m := range lr.ms {
			m.node.Close()
		}
	})
	return lr
}

func TestLineOfFiveDeliversExactlyOnce(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		lr := runLine(t, seed)
		require.Nil(t, lr.res.Failure, "seed %d: %v", seed, lr.res.Failure)
		assert.Zero(t, lr.ms[0].count(gossip.Received, proto.PeerID{}, nil), "seed %d: the sender delivers nothing", seed)
		for _, m := range lr.ms[1:] {
			assert.Equal(t, 1, m.count(gossip.Received, proto.PeerID{}, []byte("line")), "seed %d: %s: %v", seed, m.name, kinds(m.events))
			for _, ev := range m.events {
				if ev.Kind == gossip.Received {
					assert.LessOrEqual(t, int(ev.Scope.Round), 3, "seed %d: %s: at most 4 hops on 5 nodes", seed, m.name)
					assert.False(t, ev.Scope.Neighbors)
				}
			}
			assert.Empty(t, m.connErr, "seed %d: %s", seed, m.name)
		}
	}
}

// --- 3. Bad input from a peer ---

// helloFrame is a valid hello of id, framed.
func helloFrame(t testing.TB, version uint8, id proto.PeerID) []byte {
	body, err := wire.AppendHello(nil, wire.Hello{Version: version, ID: id, Data: []byte("10.0.0.3:4919")})
	require.NoError(t, err)
	return frame(body)
}

// frame is body with its length prefix, as wire.WriteFrame writes it.
func frame(body []byte) []byte {
	var b bytes.Buffer
	if err := wire.WriteFrame(&b, body); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	evil := peerID("evil")
	topicBytes := topicID("bad")
	unknownKind := append(append([]byte{byte(wire.FrameMessage)}, topicBytes[:]...), 99)
	pruneBody, err := wire.AppendMessage(nil, proto.Message{Topic: topicBytes, Body: proto.Prune{}})
	require.NoError(t, err)
	truncGossip := append(append([]byte{byte(wire.FrameMessage)}, topicBytes[:]...), byte(wire.KindGossip), 1, 2, 3)
	cases := []struct {
		name string
		// send is what the client writes; hello: it is a valid hello
		// first, so the node answers with its own before closing.
		send       []byte
		hello      bool
		reason     string // OnConnError's reason must contain it
		closeWrite bool   // the client half-closes after sending
		skip       string
	}{
		{name: "garbage-frame-type", send: frame([]byte("hello")), reason: "unknown frame type 104"},
		{name: "garbage-http", send: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), reason: "frame too large"},
		{name: "truncated-hello", send: []byte{0, 0, 0, 40, 1, 1}, closeWrite: true, reason: "unexpected EOF"},
		{name: "silent", reason: "timeout"},
		{name: "hello-zero-id", send: helloFrame(t, wire.Version, proto.PeerID{}), reason: "bad peer id"},
		{name: "hello-own-id", send: helloFrame(t, wire.Version, peerID("node1")), reason: "bad peer id"},
		{name: "hello-bad-version", send: helloFrame(t, wire.Version+1, evil), reason: "hello version"},
		{name: "empty-frame", send: frame(nil), reason: "empty body"},
		{name: "message-before-hello", send: frame(pruneBody), reason: "first frame is not a hello"},
		{name: "oversized-after-hello", hello: true, send: []byte{0xff, 0xff, 0xff, 0xff}, reason: "frame too large"},
		{name: "truncated-frame-after-hello", hello: true, send: []byte{0, 0, 0, 10, 1, 2}, closeWrite: true, reason: "unexpected EOF"},
		{name: "unknown-kind-after-hello", hello: true, send: frame(unknownKind), reason: "unknown message kind 99"},
		{name: "truncated-body-after-hello", hello: true, send: frame(truncGossip), reason: "truncated"},
		{name: "second-hello", hello: true, send: helloFrame(t, wire.Version, evil), reason: "unexpected hello"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip != "" {
				t.Skip(tc.skip)
			}
			g := newGNet(t, 3, sim.Strategy{}, "node1", "node2", "evil")
			topic := topicID("bad")
			var n1, n2 *member
			var clientErr error
			var frames [][]byte
			g.mustRun(t, func() {
				n1 = startMember(t, g, g.hosts[0], topic, gossip.Options{})
				c, err := g.hosts[2].Env().Net().Dial("tcp", n1.node.Addr())
				check(t, g.w, err, "dial")
				out := tc.send
				if tc.hello {
					out = append(helloFrame(t, wire.Version, evil), out...)
				}
				if len(out) > 0 {
					_, err = c.Write(out)
					check(t, g.w, err, "write")
				}
				if tc.closeWrite {
					check(t, g.w, c.(interface{ CloseWrite() error }).CloseWrite(), "closewrite")
				}
				check(t, g.w, c.SetReadDeadline(g.w.Now().Add(30*time.Second)), "deadline")
				fr := wire.NewFrameReader(c, 0)
				for {
					body, err := fr.Next()
					if err != nil {
						clientErr = err
						break
					}
					frames = append(frames, slices.Clone(body))
				}
				_ = c.Close()

				// The node still works: a proper peer joins through it and
				// its broadcast is delivered.
				n2 = startMember(t, g, g.hosts[1], topic, gossip.Options{})
				n1.subscribe(t, g)
				n2.subscribe(t, g, n1)
				check(t, g.w, n2.sub.Broadcast([]byte("after")), "broadcast")
				waitFor(g.w, 5*time.Second, func() bool { return n1.count(gossip.Received, n2.node.ID(), []byte("after")) > 0 })
				n1.sub.Close()
				n2.sub.Close()
				n1.node.Close()
				n2.node.Close()
			})
			// The connection was closed by the node: EOF or a reset, never
			// the client's deadline.
			if assert.Error(t, clientErr) {
				ok := errors.Is(clientErr, io.EOF) || strings.Contains(clientErr.Error(), "connection reset")
				assert.True(t, ok, "client read error %v: want EOF or a reset", clientErr)
			}
			if tc.hello {
				// The node answered the valid hello with its own, then
				// closed. (A close with unread input resets the connection,
				// and a reset may discard what the client had not read yet.)
				if clientErr == io.EOF || len(frames) > 0 {
					assert.Len(t, frames, 1)
				}
				if len(frames) > 0 {
					f, err := wire.Decode(frames[0])
					if assert.NoError(t, err) && assert.NotNil(t, f.Hello) {
						assert.Equal(t, n1.node.ID(), f.Hello.ID)
						assert.Equal(t, n1.node.Addr(), string(f.Hello.Data))
					}
				}
			} else {
				assert.Empty(t, frames, "a failed handshake is not answered")
			}
			if assert.Len(t, n1.connErr, 1, "%v", n1.connErr) {
				assert.Contains(t, n1.connErr[0].Error(), tc.reason)
			}
			assert.Equal(t, 1, n1.count(gossip.Received, n2.node.ID(), []byte("after")), "node 1 still works: %v", kinds(n1.events))
			assert.Empty(t, n2.connErr)
		})
	}
}

// --- 4. Errors ---

func TestOversizedBroadcastAndBadArguments(t *testing.T) {
	g := newGNet(t, 4, sim.Strategy{}, "node1", "node2")
	max := proto.DefaultConfig().MaxMessageSize
	g.mustRun(t, func() {
		m := startMember(t, g, g.hosts[0], topicID("errs"), gossip.Options{})
		m.subscribe(t, g)
		big := make([]byte, max+1)
		err := m.sub.Broadcast(big)
		assert.ErrorIs(t, err, proto.ErrMessageTooLarge)
		assert.ErrorContains(t, err, fmt.Sprint(max+1))
		assert.ErrorIs(t, m.sub.BroadcastNeighbors(big), proto.ErrMessageTooLarge)
		err = m.node.Broadcast(m.topic, big, false)
		assert.ErrorIs(t, err, proto.ErrMessageTooLarge)
		assert.ErrorContains(t, err, fmt.Sprint(max))
		assert.NoError(t, m.node.Broadcast(m.topic, make([]byte, max), false), "exactly the limit is fine")

		_, err = m.disp.Subscribe(proto.TopicID{}, nil)
		assert.ErrorIs(t, err, gossip.ErrInvalidTopic)
		_, err = m.node.Join(proto.TopicID{}, nil)
		assert.ErrorIs(t, err, gossip.ErrInvalidTopic)
		assert.ErrorIs(t, m.node.Broadcast(proto.TopicID{}, []byte("x"), false), gossip.ErrInvalidTopic)
		assert.Error(t, m.node.AddPeer(peerID("x"), "not-an-address"))

		env := g.hosts[1].Env()
		id := peerID("node2")
		badCfg := proto.DefaultConfig()
		badCfg.Membership.ActiveViewCapacity = 0
		for _, tc := range []struct {
			opts gossip.Options
			want string
		}{
			{gossip.Options{}, "ID"},
			{gossip.Options{ID: id, Port: 70000}, "Port"},
			{gossip.Options{ID: id, Port: -1}, "Port"},
			{gossip.Options{ID: id, SubscriptionCapacity: 1}, "SubscriptionCapacity"},
			{gossip.Options{ID: id, Variant: "sometimes"}, "variant"},
			{gossip.Options{ID: id, DialTimeout: -time.Second}, "DialTimeout"},
			{gossip.Options{ID: id, Proto: badCfg}, "ActiveViewCapacity"},
		} {
			n, err := gossip.New(env, tc.opts)
			assert.Nil(t, n)
			assert.ErrorContains(t, err, tc.want, "%+v", tc.opts)
		}
		_, err = gossip.ParseVariant("Buggy")
		assert.Error(t, err, "variants are lower case")

		// Two nodes cannot listen on one port of one host.
		n, err := gossip.New(m.host.Env(), gossip.Options{ID: peerID("twin")})
		if assert.NoError(t, err) {
			assert.ErrorContains(t, n.Start(), "listen")
			n.Close() // not started: nothing to wait for
		}
		m.sub.Close()
		m.node.Close()
	})
}

// --- 5. Simultaneous dial ---

func TestSimultaneousDialOneConnectionPerPair(t *testing.T) {
	strategies := []string{"random", "pct", "random+permute", "random+delay", "random+permute+delay+swarm"}
	for _, spec := range strategies {
		strat, err := sim.ParseStrategy(spec)
		require.NoError(t, err)
		bothDialed, replaced := 0, 0
		for seed := uint64(0); seed < 30; seed++ {
			g := newGNetOpts(t, sim.Options{Seed: seed, Strategy: strat, CheckLeaks: true, Trace: true}, "node1", "node2")
			pr := runPairOn(t, g, gossip.Fixed, true, 3*time.Second)
			if !assert.Nil(t, pr.res.Failure, "%s seed %d: %v", spec, seed, pr.res.Failure) {
				continue
			}
			// The trace names every task: a handshake task on both nodes
			// means both dialled (the tie-break decided); more than one
			// reader on a node means a connection was replaced.
			handshakes, readers := spawned(pr.res, "/handshake"), spawned(pr.res, "/conn.reader")
			if handshakes["node1"] > 0 && handshakes["node2"] > 0 {
				bothDialed++
			}
			if readers["node1"] > 1 || readers["node2"] > 1 {
				replaced++
			}
			assert.Equal(t, map[string]int{"node1": 1, "node2": 1}, readers, "%s seed %d: one connection installed per node", spec, seed)
			a, b := pr.ms[0], pr.ms[1]
			// Only what the streams had before the teardown: closing one
			// side first (its quit) legitimately gives the other a
			// NeighborDown when a delayed Close lets its stream see it.
			a.events, b.events = a.events[:pr.seen[0]], b.events[:pr.seen[1]]
			for _, x := range []struct {
				m, other *member
				content  string
			}{{a, b, "world"}, {b, a, "hello"}} {
				id := x.other.node.ID()
				// One connection, one NeighborUp. It reaches the stream if
				// the actor emitted it after Subscribe returned, and may
				// not if before: the other node's JOIN can arrive first,
				// and iroh at #2482 drops events for a topic nobody has
				// subscribed to yet.
				ups, upsAfter := 0, 0
				for i, ev := range x.m.emitted {
					if up, ok := ev.(proto.EvNeighborUp); ok && up.Peer == id {
						ups++
						if i >= x.m.subscribed {
							upsAfter++
						}
					}
				}
				assert.Equal(t, 1, ups, "%s seed %d: %s: NeighborUp emitted once", spec, seed, x.m.name)
				onStream := x.m.count(gossip.NeighborUp, id, nil)
				assert.True(t, upsAfter <= onStream && onStream <= 1, "%s seed %d: %s: %v (NeighborUp emitted after Subscribe returned: %d)", spec, seed, x.m.name, kinds(x.m.events), upsAfter)
				assert.Zero(t, x.m.count(gossip.NeighborDown, id, nil), "%s seed %d: %s: %v", spec, seed, x.m.name, kinds(x.m.events))
				assert.Equal(t, 1, x.m.count(gossip.Received, id, []byte(x.content)), "%s seed %d: %s: %v", spec, seed, x.m.name, kinds(x.m.events))
				assert.Empty(t, x.m.connErr, "%s seed %d: %s", spec, seed, x.m.name)
			}
		}
		t.Logf("%s: both nodes dialled on %d of 30 seeds, a connection was replaced on %d", spec, bothDialed, replaced)
		assert.Positive(t, bothDialed, "%s: the simultaneous dial (tie-break) was never exercised", spec)
	}
}

// spawned counts, per host, the tasks whose name ends with suffix.
func spawned(res sim.Result, suffix string) map[string]int {
	out := map[string]int{}
	for _, ev := range res.Trace {
		if ev.Kind == sim.TraceSpawn && strings.HasSuffix(ev.TaskName, suffix) {
			host, _, _ := strings.Cut(ev.TaskName, "/")
			out[host]++
		}
	}
	return out
}

// TestStaggeredDialKeepsNeighbors: as the simultaneous dial, but node 2
// joins a little after node 1, so that the two dials cross at every
// possible point of the handshakes. Repro: seed 0, node 2 subscribing
// 1.25ms (up to 3ms) after node 1 on a 1ms link: node 2's stream gets
// NeighborUp(node1) then NeighborDown(node1); node 2's active view ends
// empty while node 1's holds node 2, and node 2's broadcasts go nowhere.
// The strategies random+delay and random+permute+delay hit the same race
// in about 28% of the seeds of the simultaneous-dial setup.
func TestStaggeredDialKeepsNeighbors(t *testing.T) {
	for off := time.Duration(0); off <= 4*time.Millisecond; off += 250 * time.Microsecond {
		for seed := uint64(0); seed < 5; seed++ {
			g := newGNet(t, seed, sim.Strategy{}, "node1", "node2")
			topic := topicID("staggered")
			var a, b *member
			var va, vb proto.TopicView
			g.mustRun(t, func() {
				a = startMember(t, g, g.hosts[0], topic, gossip.Options{})
				b = startMember(t, g, g.hosts[1], topic, gossip.Options{})
				a.subscribe(t, g, b)
				g.w.Sleep(off)
				b.subscribe(t, g, a)
				g.w.Sleep(time.Second)
				check(t, g.w, a.sub.Broadcast([]byte("from 1")), "broadcast 1")
				check(t, g.w, b.sub.Broadcast([]byte("from 2")), "broadcast 2")
				g.w.Sleep(time.Second)
				_ = a.node.Inspect(func(st *proto.State) { va, _ = st.View(topic) })
				_ = b.node.Inspect(func(st *proto.State) { vb, _ = st.View(topic) })
				a.sub.Close()
				b.sub.Close()
				a.node.Close()
				b.node.Close()
			})
			for _, x := range []struct {
				m, other *member
				view     proto.TopicView
				content  string
			}{{a, b, va, "from 2"}, {b, a, vb, "from 1"}} {
				id := x.other.node.ID()
				assert.Equal(t, []gossip.Event{{Kind: gossip.NeighborUp, Peer: id}}, filterKind(x.m.events, gossip.NeighborUp, gossip.NeighborDown),
					"offset %v seed %d: %s", off, seed, x.m.name)
				assert.Equal(t, []proto.PeerID{id}, x.view.Active, "offset %v seed %d: %s's active view", off, seed, x.m.name)
				assert.Equal(t, 1, x.m.count(gossip.Received, id, []byte(x.content)), "offset %v seed %d: %s", off, seed, x.m.name)
			}
		}
	}
}

func filterKind(evs []gossip.Event, ks ...gossip.EventKind) []gossip.Event {
	var out []gossip.Event
	for _, ev := range evs {
		if slices.Contains(ks, ev.Kind) {
			out = append(out, gossip.Event{Kind: ev.Kind, Peer: ev.Peer})
		}
	}
	return out
}

// --- 6. Dispatcher variants ---

func TestDispatcherVariants(t *testing.T) {
	const seeds = 300
	sweep := func(variant gossip.Variant) (missed []uint64, joining int) {
		for seed := uint64(0); seed < seeds; seed++ {
			pr := runPair(t, seed, sim.Strategy{}, variant, false, 2*time.Second)
			require.Nil(t, pr.res.Failure, "%s seed %d: %v", variant, seed, pr.res.Failure)
			for i := range pr.ms {
				assert.LessOrEqual(t, pr.seen[i], pr.emitted[i], "%s seed %d: a stream never has more than the actor emitted", variant, seed)
				if pr.joining[i] > 0 {
					joining++
				}
			}
			// Node 2's stream against node 2's actor (as gossip-smoke).
			if pr.seen[1] < pr.emitted[1] {
				if len(missed) == 0 {
					t.Logf("%s seed %d: node 2's actor emitted %d events for the topic, its stream delivered %d %v (JoiningEvents %d)",
						variant, seed, pr.emitted[1], pr.seen[1], kinds(pr.ms[1].events), pr.joining[1])
				}
				missed = append(missed, seed)
			} else if variant == gossip.Fixed {
				assert.Equal(t, 1, pr.ms[1].count(gossip.Received, pr.ms[0].node.ID(), []byte("hello")), "fixed seed %d", seed)
			}
		}
		return missed, joining
	}
	buggyMissed, buggyJoining := sweep(gossip.Buggy)
	fixedMissed, fixedJoining := sweep(gossip.Fixed)
	t.Logf("buggy: node 2's stream missed events on %d of %d seeds; fixed: on %d", len(buggyMissed), seeds, len(fixedMissed))
	assert.NotEmpty(t, buggyMissed, "buggy: no seed in 0..%d where node 2's stream missed an event", seeds-1)
	assert.Empty(t, fixedMissed, "fixed: node 2's stream missed events on these seeds")
	assert.Positive(t, buggyJoining, "buggy: no seed with JoiningEvents > 0")
	assert.Positive(t, fixedJoining, "fixed: no seed with JoiningEvents > 0")
}

// --- 7. Crash ---

func TestCrashedPeerGoesDown(t *testing.T) {
	g := newGNet(t, 7, sim.Strategy{}, "n1", "n2", "n3")
	topic := topicID("crash")
	var ms []*member
	g.mustRun(t, func() {
		for _, h := range g.hosts {
			ms = append(ms, startMember(t, g, h, topic, gossip.Options{}))
		}
		n1, n2, n3 := ms[0], ms[1], ms[2]
		n1.subscribe(t, g)
		n2.subscribe(t, g, n1)
		n3.subscribe(t, g, n1)
		mesh := waitFor(g.w, 10*time.Second, func() bool {
			for _, m := range ms {
				for _, o := range ms {
					if m != o && m.count(gossip.NeighborUp, o.node.ID(), nil) == 0 {
						return false
					}
				}
			}
			return true
		})
		assert.True(t, mesh, "three nodes form a full mesh")
		check(t, g.w, g.nw.Crash("n3"), "crash")
		down := waitFor(g.w, 10*time.Second, func() bool {
			return n1.count(gossip.NeighborDown, n3.node.ID(), nil) > 0 && n2.count(gossip.NeighborDown, n3.node.ID(), nil) > 0
		})
		assert.True(t, down, "n1 and n2 see n3 go down: n1 %v, n2 %v", kinds(n1.events), kinds(n2.events))
		check(t, g.w, n1.sub.Broadcast([]byte("after crash")), "broadcast")
		assert.True(t, waitFor(g.w, 5*time.Second, func() bool { return n2.count(gossip.Received, n1.node.ID(), []byte("after crash")) > 0 }))
		_ = n1.node.Inspect(func(st *proto.State) {
			v, _ := st.View(topic)
			assert.Equal(t, []proto.PeerID{n2.node.ID()}, v.Active, "n1's active view")
		})
		for _, m := range ms[:2] {
			m.sub.Close()
			m.node.Close()
		}
	})
	assert.Equal(t, 1, ms[0].count(gossip.NeighborDown, ms[2].node.ID(), nil), "%v", kinds(ms[0].events))
	assert.Equal(t, 1, ms[1].count(gossip.NeighborDown, ms[2].node.ID(), nil), "%v", kinds(ms[1].events))
	assert.Equal(t, 1, ms[1].count(gossip.Received, ms[0].node.ID(), []byte("after crash")))
}

// --- 8. Close ---

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		g := newGNet(t, seed, sim.Strategy{}, "n1", "n2")
		topic := topicID("close")
		g.mustRun(t, func() {
			a := startMember(t, g, g.hosts[0], topic, gossip.Options{})
			b := startMember(t, g, g.hosts[1], topic, gossip.Options{})
			a.subscribe(t, g, b)
			b.subscribe(t, g, a)
			assert.True(t, waitFor(g.w, 5*time.Second, func() bool { return a.count(gossip.NeighborUp, b.node.ID(), nil) > 0 }))

			a.node.Close()
			a.node.Close() // idempotent
			assert.True(t, streamClosed(g.w, a.sub), "seed %d: Events() is closed once the node is", seed)
			assert.True(t, waitFor(g.w, time.Second, func() bool { return a.ended }), "seed %d", seed)
			_, err := a.node.Join(topicID("other"), nil)
			assert.ErrorIs(t, err, gossip.ErrClosed, "seed %d: Join", seed)
			assert.ErrorIs(t, a.node.Broadcast(topic, []byte("x"), false), gossip.ErrClosed, "seed %d: Broadcast", seed)
			assert.ErrorIs(t, a.node.Inspect(func(*proto.State) {}), gossip.ErrClosed, "seed %d: Inspect", seed)
			assert.ErrorIs(t, a.node.Quit(topic), gossip.ErrClosed, "seed %d: Quit", seed)
			assert.ErrorIs(t, a.node.AddPeer(b.node.ID(), b.node.Addr()), gossip.ErrClosed, "seed %d: AddPeer", seed)
			_, err = a.disp.Subscribe(topic, nil)
			assert.ErrorIs(t, err, gossip.ErrClosed, "seed %d: Subscribe", seed)
			a.sub.Close() // after the node: harmless
			assert.ErrorIs(t, a.sub.Broadcast([]byte("x")), gossip.ErrClosed, "seed %d: a closed subscription", seed)

			// The peer sees the node go.
			assert.True(t, waitFor(g.w, 5*time.Second, func() bool { return b.count(gossip.NeighborDown, a.node.ID(), nil) > 0 }),
				"seed %d: %v", seed, kinds(b.events))
			b.node.Close()
			assert.True(t, streamClosed(g.w, b.sub), "seed %d", seed)
			b.sub.Close()
			b.node.Close()
		})
	}
}

// streamClosed reports whether sub's stream is closed, without taking an
// event from the consumer task: it lets the consumer drain first.
func streamClosed(w *sim.World, sub *gossip.Subscription) bool {
	for i := 0; i < 1000 && sub.Events().Len() > 0; i++ {
		w.Yield()
	}
	_, ok, ready := sub.Events().TryRecv()
	return ready && !ok
}

// TestSubscriptionBroadcastAfterNodeClose: a subscription whose node has
// closed (but which was not closed itself) must not accept broadcasts.
func TestSubscriptionBroadcastAfterNodeClose(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		g := newGNet(t, seed, sim.Strategy{}, "n1")
		g.mustRun(t, func() {
			m := startMember(t, g, g.hosts[0], topicID("late"), gossip.Options{})
			m.subscribe(t, g)
			m.node.Close()
			assert.ErrorIs(t, m.sub.Broadcast([]byte("late")), gossip.ErrClosed, "seed %d", seed)
		})
	}
}

// --- 9. Determinism ---

func TestSameSeedSameFingerprint(t *testing.T) {
	a, b := runLine(t, 11), runLine(t, 11)
	require.Nil(t, a.res.Failure)
	require.Nil(t, b.res.Failure)
	assert.Equal(t, a.res.Fingerprint, b.res.Fingerprint)
	assert.Equal(t, a.res.Steps, b.res.Steps)
	assert.Equal(t, a.res.Elapsed, b.res.Elapsed)
	for i := range a.ms {
		assert.Equal(t, a.ms[i].events, b.ms[i].events, "node %d's stream", i)
	}
	c := runLine(t, 12)
	require.Nil(t, c.res.Failure)
	assert.NotEqual(t, a.res.Fingerprint, c.res.Fingerprint, "another seed, another run")
}
