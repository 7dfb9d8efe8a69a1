package proto_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/detsim/detsim/protocols/gossip/proto"
)

func gossip(content string, round uint16) proto.Gossip {
	c := []byte(content)
	return proto.Gossip{ID: mid(c), Content: c, Scope: proto.DeliveryScope{Round: round}}
}

func TestBroadcastEagerAndLazyPush(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2, 3)
	n.msg(2, proto.Prune{})
	v := n.view()
	assert.Equal(t, pids(1, 3), v.Eager)
	assert.Equal(t, pids(2), v.Lazy)

	out := n.cmd(proto.CmdBroadcast{Content: []byte("hello")})
	g := sendsOf[proto.Gossip](out)
	require.Len(t, g, 2)
	assert.Equal(t, pid(1), g[0].To)
	assert.Equal(t, pid(3), g[1].To)
	assert.Equal(t, gossip("hello", 0), g[0].Body)
	assert.Empty(t, sendsOf[proto.IHave](out), "IHAVE waits for the dispatch timer")
	assert.Empty(t, eventsOf[proto.EvReceived](out), "no delivery to ourselves")
	d := timersOf(out, proto.TimerDispatchIHave)
	require.Len(t, d, 1)
	assert.Equal(t, 5*time.Millisecond, d[0].After)

	// A second broadcast within the window joins the same batch.
	out = n.cmd(proto.CmdBroadcast{Content: []byte("world")})
	assert.Empty(t, timersOf(out, proto.TimerDispatchIHave))

	n.now = n.now.Add(5 * time.Millisecond)
	out = n.fire(d[0].Timer)
	ih := sendsOf[proto.IHave](out)
	require.Len(t, ih, 1)
	assert.Equal(t, pid(2), ih[0].To)
	assert.Equal(t, []proto.IHaveEntry{{ID: mid([]byte("hello")), Round: 0}, {ID: mid([]byte("world")), Round: 0}}, ih[0].Body.Entries)
	assert.Empty(t, n.fire(d[0].Timer), "a fired dispatch timer is stale")
	st := n.s.Stats(topicA)
	assert.Equal(t, uint64(4), st.GossipSent)
	assert.Equal(t, uint64(1), st.IHaveSent)
}

func TestGossipIsDeliveredAndForwarded(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2, 3)
	n.msg(3, proto.Prune{})
	out := n.msg(1, gossip("m", 4))

	ev := eventsOf[proto.EvReceived](out)
	require.Len(t, ev, 1)
	assert.Equal(t, []byte("m"), ev[0].Content)
	assert.Equal(t, pid(1), ev[0].DeliveredFrom)
	assert.Equal(t, proto.DeliveryScope{Round: 4}, ev[0].Scope)

	g := sendsOf[proto.Gossip](out)
	require.Len(t, g, 1, "eager peers except the sender")
	assert.Equal(t, pid(2), g[0].To)
	assert.Equal(t, uint16(5), g[0].Body.Scope.Round)

	n.now = n.now.Add(5 * time.Millisecond)
	out = n.fire(timersOf(out, proto.TimerDispatchIHave)[0].Timer)
	ih := sendsOf[proto.IHave](out)
	require.Len(t, ih, 1)
	assert.Equal(t, pid(3), ih[0].To)
	assert.Equal(t, uint16(5), ih[0].Body.Entries[0].Round)

	st := n.s.Stats(topicA)
	assert.Equal(t, uint64(1), st.Delivered)
	assert.Equal(t, uint16(5), st.MaxLastDeliveryHop)
}

func TestDuplicateGossipPrunes(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2)
	n.msg(1, gossip("m", 0))
	out := n.msg(2, gossip("m", 3))
	assert.Equal(t, []proto.Body{proto.Prune{}}, sendsTo(out, pid(2)))
	assert.Empty(t, eventsOf[proto.EvReceived](out))
	assert.Empty(t, sendsOf[proto.Gossip](out))
	v := n.view()
	assert.Equal(t, pids(1), v.Eager)
	assert.Equal(t, pids(2), v.Lazy)
	assert.Equal(t, uint64(1), n.s.Stats(topicA).DuplicatesReceived)
	assert.Equal(t, uint64(1), n.s.Stats(topicA).PruneSent)

	// Our own broadcast counts as received too.
	out = n.cmd(proto.CmdBroadcast{Content: []byte("mine")})
	require.Len(t, sendsOf[proto.Gossip](out), 1)
	out = n.msg(1, gossip("mine", 1))
	assert.Equal(t, []proto.Body{proto.Prune{}}, sendsTo(out, pid(1)))
}

func TestGraftMakesEagerAndRepliesFromCache(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2)
	n.msg(2, proto.Prune{})
	n.msg(1, gossip("m", 2))

	id := mid([]byte("m"))
	out := n.msg(2, proto.Graft{ID: &id, Round: 3})
	g := sendsOf[proto.Gossip](out)
	require.Len(t, g, 1)
	assert.Equal(t, pid(2), g[0].To)
	assert.Equal(t, gossip("m", 3), g[0].Body, "the cached copy carries our round")
	assert.True(t, contains(n.view().Eager, pid(2)))

	n.msg(2, proto.Prune{})
	out = n.msg(2, proto.Graft{ID: nil})
	assert.Empty(t, sendsOf[proto.Gossip](out))
	assert.True(t, contains(n.view().Eager, pid(2)))

	unknown := mid([]byte("unknown"))
	out = n.msg(2, proto.Graft{ID: &unknown})
	assert.Empty(t, sendsOf[proto.Gossip](out))
}

func TestIHaveGraftsAfterTimeoutThenNextAnnouncer(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2, 3)
	n.msg(1, proto.Prune{})
	n.msg(2, proto.Prune{})
	id := mid([]byte("x"))

	out := n.msg(1, proto.IHave{Entries: []proto.IHaveEntry{{ID: id, Round: 2}}})
	tm := timersOf(out, proto.TimerSendGraft)
	require.Len(t, tm, 1)
	assert.Equal(t, 80*time.Millisecond, tm[0].After)
	assert.Equal(t, id, tm[0].Timer.ID)
	out = n.msg(2, proto.IHave{Entries: []proto.IHaveEntry{{ID: id, Round: 1}}})
	assert.Empty(t, timersOf(out, proto.TimerSendGraft), "one graft timer per id")
	assert.Empty(t, sendsOf[proto.Graft](out))

	n.now = n.now.Add(80 * time.Millisecond)
	out = n.fire(tm[0].Timer)
	gr := sendsOf[proto.Graft](out)
	require.Len(t, gr, 1)
	assert.Equal(t, pid(1), gr[0].To, "the first announcer first")
	require.NotNil(t, gr[0].Body.ID)
	assert.Equal(t, id, *gr[0].Body.ID)
	assert.Equal(t, uint16(2), gr[0].Body.Round)
	assert.True(t, contains(n.view().Eager, pid(1)))
	tm2 := timersOf(out, proto.TimerSendGraft)
	require.Len(t, tm2, 1)
	assert.Equal(t, 40*time.Millisecond, tm2[0].After)
	assert.Empty(t, n.fire(tm[0].Timer), "the first timer is stale now")

	n.now = n.now.Add(40 * time.Millisecond)
	out = n.fire(tm2[0].Timer)
	gr = sendsOf[proto.Graft](out)
	require.Len(t, gr, 1)
	assert.Equal(t, pid(2), gr[0].To)
	assert.Equal(t, uint16(1), gr[0].Body.Round)
	tm3 := timersOf(out, proto.TimerSendGraft)
	require.Len(t, tm3, 1)

	// No announcer left: nothing more is sent and the record is dropped.
	n.now = n.now.Add(40 * time.Millisecond)
	out = n.fire(tm3[0].Timer)
	assert.Empty(t, out)
	// A new IHAVE for it starts over.
	out = n.msg(3, proto.IHave{Entries: []proto.IHaveEntry{{ID: id, Round: 4}}})
	assert.Len(t, timersOf(out, proto.TimerSendGraft), 1)
	assert.Equal(t, uint64(2), n.s.Stats(topicA).GraftSent)
}

func TestIHaveForReceivedMessageIsIgnored(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2)
	n.msg(1, gossip("m", 0))
	out := n.msg(2, proto.IHave{Entries: []proto.IHaveEntry{{ID: mid([]byte("m")), Round: 0}}})
	assert.Empty(t, out)
}

func TestGossipBeforeGraftTimerCancelsGraft(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2)
	out := n.msg(2, proto.IHave{Entries: []proto.IHaveEntry{{ID: mid([]byte("m")), Round: 0}}})
	tm := timersOf(out, proto.TimerSendGraft)
	require.Len(t, tm, 1)
	n.msg(1, gossip("m", 1))
	n.now = n.now.Add(80 * time.Millisecond)
	assert.Empty(t, n.fire(tm[0].Timer))
}

func TestOptimizationGraftsCloserAnnouncerAndPrunesSender(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2)
	n.msg(2, proto.Prune{})
	n.msg(2, proto.IHave{Entries: []proto.IHaveEntry{{ID: mid([]byte("m")), Round: 0}}})
	// The eager copy arrives at round 6: we are at round 7, 7 - 0 >= 7.
	out := n.msg(1, gossip("m", 6))

	assert.Len(t, eventsOf[proto.EvReceived](out), 1)
	gr := sendsOf[proto.Graft](out)
	require.Len(t, gr, 1)
	assert.Equal(t, pid(2), gr[0].To)
	assert.Nil(t, gr[0].Body.ID)
	assert.Equal(t, uint16(0), gr[0].Body.Round)
	assert.Equal(t, []proto.Body{proto.Prune{}}, sendsTo(out, pid(1)))
	v := n.view()
	assert.Equal(t, pids(2), v.Eager)
	assert.Equal(t, pids(1), v.Lazy)
}

func TestOptimizationBelowThresholdDoesNothing(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2)
	n.msg(2, proto.Prune{})
	n.msg(2, proto.IHave{Entries: []proto.IHaveEntry{{ID: mid([]byte("m")), Round: 0}}})
	out := n.msg(1, gossip("m", 5)) // round 6 - 0 < 7
	assert.Empty(t, sendsOf[proto.Graft](out))
	assert.Empty(t, sendsOf[proto.Prune](out))
	assert.Equal(t, pids(1), n.view().Eager)
}

func TestNeighborDownPurgesAnnouncements(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2)
	out := n.msg(1, proto.IHave{Entries: []proto.IHaveEntry{{ID: mid([]byte("m")), Round: 0}}})
	tm := timersOf(out, proto.TimerSendGraft)
	require.Len(t, tm, 1)
	n.msg(1, proto.Disconnect{Alive: true})
	v := n.view()
	assert.False(t, contains(v.Eager, pid(1)))
	assert.False(t, contains(v.Lazy, pid(1)))
	n.now = n.now.Add(80 * time.Millisecond)
	assert.Empty(t, sendsOf[proto.Graft](n.fire(tm[0].Timer)))
}

func TestNeighborDownDropsQueuedIHaves(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2)
	n.msg(2, proto.Prune{})
	out := n.cmd(proto.CmdBroadcast{Content: []byte("b")})
	d := timersOf(out, proto.TimerDispatchIHave)
	require.Len(t, d, 1)
	n.handle(proto.InPeerDisconnected{Peer: pid(2)})
	assert.Empty(t, sendsOf[proto.IHave](n.fire(d[0].Timer)))
}

func TestCacheAndIDRetention(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2)
	out := n.cmd(proto.CmdBroadcast{Content: []byte("old")})
	ev := timersOf(out, proto.TimerEvictCache)
	require.Len(t, ev, 1)
	assert.Equal(t, time.Second, ev[0].After)
	id := mid([]byte("old"))

	// Run the eviction timer every second, as the shell would.
	tick := ev[0].Timer
	advance := func(until time.Duration) {
		for n.now.Before(t0.Add(until)) {
			n.now = n.now.Add(time.Second)
			out := n.fire(tick)
			next := timersOf(out, proto.TimerEvictCache)
			if len(next) == 0 {
				return
			}
			tick = next[0].Timer
		}
	}
	advance(29 * time.Second)
	assert.Len(t, sendsOf[proto.Gossip](n.msg(1, proto.Graft{ID: &id})), 1, "cached for 30 s")
	advance(31 * time.Second)
	assert.Empty(t, sendsOf[proto.Gossip](n.msg(1, proto.Graft{ID: &id})), "evicted after 30 s")
	// The id is still remembered: a copy is a duplicate.
	out = n.msg(2, gossip("old", 0))
	assert.Empty(t, eventsOf[proto.EvReceived](out))
	assert.Len(t, sendsOf[proto.Prune](out), 1)

	advance(91 * time.Second)
	out = n.msg(2, gossip("old", 0))
	assert.Len(t, eventsOf[proto.EvReceived](out), 1, "forgotten after 90 s")
}

func TestEvictTimerStopsWhenEmpty(t *testing.T) {
	cfg := proto.DefaultConfig()
	cfg.Broadcast.MessageCacheRetention = 2 * time.Second
	cfg.Broadcast.MessageIDRetention = 2 * time.Second
	n := newNode(t, cfg, 1)
	out := n.cmd(proto.CmdBroadcast{Content: []byte("x")})
	tick := timersOf(out, proto.TimerEvictCache)[0].Timer
	n.now = n.now.Add(time.Second)
	out = n.fire(tick)
	require.Len(t, timersOf(out, proto.TimerEvictCache), 1)
	tick = timersOf(out, proto.TimerEvictCache)[0].Timer
	n.now = n.now.Add(time.Second)
	out = n.fire(tick)
	assert.Empty(t, timersOf(out, proto.TimerEvictCache), "nothing left to evict")
	out = n.cmd(proto.CmdBroadcast{Content: []byte("y")})
	assert.Len(t, timersOf(out, proto.TimerEvictCache), 1, "re-armed on the next insert")
}

func TestOversizedBroadcastIsRefused(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1)
	out, err := n.s.Handle(n.now, proto.InCommand{Topic: topicB, Cmd: proto.CmdBroadcast{Content: make([]byte, 4097)}}, nil)
	require.Error(t, err)
	assert.True(t, errors.Is(err, proto.ErrMessageTooLarge))
	assert.Contains(t, err.Error(), "4097")
	assert.Contains(t, err.Error(), "4096")
	assert.Empty(t, out)
	assert.Equal(t, []proto.TopicID{topicA}, n.s.Topics(), "nothing changed")

	out = n.cmd(proto.CmdBroadcast{Content: make([]byte, 4096)})
	assert.Len(t, sendsOf[proto.Gossip](out), 1)
}

func TestGossipWithWrongIDIsDropped(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2)
	g := gossip("m", 0)
	g.ID[0] ^= 1
	out := n.msg(1, g)
	assert.Empty(t, out)
	assert.Equal(t, uint64(1), n.s.Stats(topicA).InvalidReceived)
	// The real message is still new afterwards.
	out = n.msg(1, gossip("m", 0))
	assert.Len(t, eventsOf[proto.EvReceived](out), 1)
}

func TestOversizedGossipIsDropped(t *testing.T) {
	cfg := proto.DefaultConfig()
	cfg.MaxMessageSize = 4
	n := newNode(t, cfg, 1)
	n.addActive(1)
	assert.Empty(t, n.msg(1, gossip("12345", 0)))
}

func TestNeighborsScopeBroadcast(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2, 3)
	n.msg(3, proto.Prune{})
	out := n.cmd(proto.CmdBroadcast{Content: []byte("hi"), Neighbors: true})
	g := sendsOf[proto.Gossip](out)
	require.Len(t, g, 2, "eager push only")
	for _, s := range g {
		assert.Equal(t, proto.DeliveryScope{Neighbors: true}, s.Body.Scope)
	}
	assert.Empty(t, timersOf(out, proto.TimerDispatchIHave), "no IHAVE")
	assert.Empty(t, timersOf(out, proto.TimerEvictCache), "not cached")

	// Receiving one: delivered, not forwarded, not recorded.
	m := proto.Gossip{ID: mid([]byte("nb")), Content: []byte("nb"), Scope: proto.DeliveryScope{Neighbors: true}}
	out = n.msg(1, m)
	ev := eventsOf[proto.EvReceived](out)
	require.Len(t, ev, 1)
	assert.True(t, ev[0].Scope.Neighbors)
	assert.Equal(t, pid(1), ev[0].DeliveredFrom)
	assert.Empty(t, sendsOf[proto.Gossip](out))
	assert.Empty(t, timersOf(out, proto.TimerDispatchIHave))
	id := m.ID
	assert.Empty(t, sendsOf[proto.Gossip](n.msg(2, proto.Graft{ID: &id})), "not cached")
	out = n.msg(2, m)
	assert.Len(t, eventsOf[proto.EvReceived](out), 1, "not recorded as received")
}

func TestIHaveBatchesAreSplitAtTheWireLimit(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2)
	n.msg(2, proto.Prune{})
	var d proto.Timer
	for i := 0; i < 1500; i++ {
		out := n.cmd(proto.CmdBroadcast{Content: []byte{byte(i), byte(i >> 8)}})
		if tm := timersOf(out, proto.TimerDispatchIHave); len(tm) > 0 {
			d = tm[0].Timer
		}
	}
	out := n.fire(d)
	ih := sendsOf[proto.IHave](out)
	require.Len(t, ih, 2)
	assert.Len(t, ih[0].Body.Entries, 1024)
	assert.Len(t, ih[1].Body.Entries, 476)
}

func TestBroadcastCopiesContent(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1)
	buf := []byte("abc")
	out := n.cmd(proto.CmdBroadcast{Content: buf})
	buf[0] = 'x'
	g := sendsOf[proto.Gossip](out)
	require.Len(t, g, 1)
	assert.True(t, bytes.Equal([]byte("abc"), g[0].Body.Content))
}
