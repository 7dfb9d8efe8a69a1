package proto_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/detsim/detsim/protocols/gossip/proto"
)

func TestJoinCommandSendsJoinAndStartsShuffle(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	out := n.cmd(proto.CmdJoin{Peers: pids(1, 0, 2)})
	joins := sendsOf[proto.Join](out)
	require.Len(t, joins, 2, "join to self is ignored")
	assert.Equal(t, pid(1), joins[0].To)
	assert.Equal(t, pid(2), joins[1].To)
	assert.Equal(t, dataOf(0), joins[0].Body.Data)
	sh := timersOf(out, proto.TimerShuffle)
	require.Len(t, sh, 1)
	assert.Equal(t, 60*time.Second, sh[0].After)
	assert.Equal(t, []proto.TopicID{topicA}, n.s.Topics())

	// The shuffle timer is scheduled once, on the topic's first event.
	out = n.cmd(proto.CmdJoin{Peers: pids(3)})
	assert.Empty(t, timersOf(out, proto.TimerShuffle))
}

func TestJoinAddsActiveAndForwardJoins(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2)
	out := n.msg(7, proto.Join{Data: dataOf(7)})

	assert.Equal(t, []proto.OutPeerData{{Peer: pid(7), Data: dataOf(7)}}, peerData(out))
	nb := sendsOf[proto.Neighbor](out)
	require.Len(t, nb, 1)
	assert.Equal(t, pid(7), nb[0].To)
	assert.Equal(t, proto.PriorityHigh, nb[0].Body.Priority)
	assert.Equal(t, dataOf(0), nb[0].Body.Data)
	assert.Equal(t, []proto.EvNeighborUp{{Peer: pid(7)}}, eventsOf[proto.EvNeighborUp](out))

	fj := sendsOf[proto.ForwardJoin](out)
	require.Len(t, fj, 2)
	for i, want := range pids(1, 2) {
		assert.Equal(t, want, fj[i].To)
		assert.Equal(t, info(7), fj[i].Body.Peer)
		assert.Equal(t, uint16(6), fj[i].Body.TTL)
	}
	assert.Empty(t, disconnects(out))
	v := n.view()
	assert.Equal(t, pids(1, 2, 7), v.Active)
	assert.Equal(t, pids(1, 2, 7), v.Eager, "NeighborUp makes a peer eager")
}

func TestJoinToFullActiveViewEvictsOne(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 3)
	n.addActive(1, 2, 3, 4, 5)
	out := n.msg(9, proto.Join{Data: dataOf(9)})

	discs := sendsOf[proto.Disconnect](out)
	require.Len(t, discs, 1)
	evicted := discs[0].To
	assert.Equal(t, proto.Disconnect{Alive: true, Respond: false}, discs[0].Body)
	assert.Equal(t, []proto.PeerID{evicted}, disconnects(out))
	assert.Equal(t, []proto.EvNeighborDown{{Peer: evicted}}, eventsOf[proto.EvNeighborDown](out))

	v := n.view()
	assert.Len(t, v.Active, 5)
	assert.True(t, contains(v.Active, pid(9)))
	assert.False(t, contains(v.Active, evicted))
	assert.Equal(t, []proto.PeerID{evicted}, v.Passive, "the evicted peer moves to the passive view")
	assert.False(t, contains(v.Eager, evicted))
	// FORWARDJOIN goes to the four remaining old neighbours, not the evicted one.
	fj := sendsOf[proto.ForwardJoin](out)
	assert.Len(t, fj, 4)
	for _, f := range fj {
		assert.NotEqual(t, evicted, f.To)
		assert.NotEqual(t, pid(9), f.To)
	}
	assert.Empty(t, v.PendingNeighbor, "eviction does not refill")
}

func TestJoinFromActivePeerOnlyUpdatesData(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2)
	out := n.msg(1, proto.Join{Data: []byte("new")})
	assert.Empty(t, sendsOf[proto.Neighbor](out))
	assert.Empty(t, eventsOf[proto.EvNeighborUp](out))
	assert.Equal(t, []proto.OutPeerData{{Peer: pid(1), Data: []byte("new")}}, peerData(out))
}

func TestForwardJoinTTLZeroAddsActive(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2, 3)
	out := n.msg(1, proto.ForwardJoin{Peer: info(9), TTL: 0})
	nb := sendsOf[proto.Neighbor](out)
	require.Len(t, nb, 1)
	assert.Equal(t, pid(9), nb[0].To)
	assert.Equal(t, proto.PriorityHigh, nb[0].Body.Priority)
	assert.Empty(t, sendsOf[proto.ForwardJoin](out), "not forwarded once added")
	assert.True(t, contains(n.view().Active, pid(9)))
	assert.Equal(t, []proto.OutPeerData{{Peer: pid(9), Data: dataOf(9)}}, peerData(out))
}

func TestForwardJoinWithOneNeighborAddsActive(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1)
	out := n.msg(1, proto.ForwardJoin{Peer: info(9), TTL: 5})
	assert.Len(t, sendsOf[proto.Neighbor](out), 1)
	assert.Equal(t, pids(1, 9), n.view().Active)
}

func TestForwardJoinAtPRWLAddsPassiveAndForwards(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		n := newNode(t, proto.DefaultConfig(), seed)
		n.addActive(1, 2, 3)
		out := n.msg(1, proto.ForwardJoin{Peer: info(9), TTL: 3})
		v := n.view()
		assert.Equal(t, pids(9), v.Passive)
		assert.False(t, contains(v.Active, pid(9)))
		fj := sendsOf[proto.ForwardJoin](out)
		require.Len(t, fj, 1)
		assert.NotEqual(t, pid(1), fj[0].To, "never back to the sender")
		assert.Contains(t, pids(2, 3), fj[0].To)
		assert.Equal(t, uint16(2), fj[0].Body.TTL)
		assert.Equal(t, info(9), fj[0].Body.Peer)
		assert.Equal(t, []proto.OutPeerData{{Peer: pid(9), Data: dataOf(9)}}, peerData(out))
	}
}

func TestForwardJoinOtherTTLOnlyForwards(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 4)
	n.addActive(1, 2)
	out := n.msg(2, proto.ForwardJoin{Peer: info(9), TTL: 5})
	v := n.view()
	assert.Empty(t, v.Passive)
	fj := sendsOf[proto.ForwardJoin](out)
	require.Len(t, fj, 1)
	assert.Equal(t, pid(1), fj[0].To)
	assert.Equal(t, uint16(4), fj[0].Body.TTL)
	assert.Empty(t, peerData(out))
}

func TestNeighborLowRejectedWhenFull(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2, 3, 4, 5)
	out := n.msg(9, proto.Neighbor{Priority: proto.PriorityLow, Data: dataOf(9)})
	assert.Empty(t, sendsOf[proto.Neighbor](out))
	assert.Empty(t, eventsOf[proto.EvNeighborUp](out))
	assert.Equal(t, pids(9), disconnects(out), "a refused peer's connection is closed")
	assert.Equal(t, pids(1, 2, 3, 4, 5), n.view().Active)
}

func TestNeighborLowAcceptedWithRoom(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1)
	out := n.msg(9, proto.Neighbor{Priority: proto.PriorityLow, Data: dataOf(9)})
	nb := sendsOf[proto.Neighbor](out)
	require.Len(t, nb, 1)
	assert.Equal(t, proto.PriorityLow, nb[0].Body.Priority)
	assert.Equal(t, pids(1, 9), n.view().Active)
	assert.Empty(t, disconnects(out))
}

func TestNeighborHighEvictsWhenFull(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 2)
	n.addActive(1, 2, 3, 4, 5)
	out := n.msg(9, proto.Neighbor{Priority: proto.PriorityHigh, Data: dataOf(9)})
	discs := sendsOf[proto.Disconnect](out)
	require.Len(t, discs, 1)
	assert.Equal(t, proto.Disconnect{Alive: true}, discs[0].Body)
	v := n.view()
	assert.Len(t, v.Active, 5)
	assert.True(t, contains(v.Active, pid(9)))
	assert.Equal(t, []proto.PeerID{discs[0].To}, v.Passive)
}

func TestDisconnectRefillsFromPassive(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 5)
	n.addActive(1, 2)
	n.addPassive(1, 3, 4, 5)
	out := n.msg(1, proto.Disconnect{Alive: true, Respond: false})

	assert.Equal(t, []proto.EvNeighborDown{{Peer: pid(1)}}, eventsOf[proto.EvNeighborDown](out))
	assert.Equal(t, pids(1), disconnects(out))
	assert.Empty(t, sendsOf[proto.Disconnect](out), "respond was false")
	nb := sendsOf[proto.Neighbor](out)
	require.Len(t, nb, 1)
	assert.Contains(t, pids(3, 4, 5), nb[0].To, "the disconnected peer is skipped")
	assert.Equal(t, proto.PriorityLow, nb[0].Body.Priority, "low while some neighbour is left")
	tm := timersOf(out, proto.TimerNeighborRequest)
	require.Len(t, tm, 1)
	assert.Equal(t, 500*time.Millisecond, tm[0].After)
	assert.Equal(t, nb[0].To, tm[0].Timer.Peer)

	v := n.view()
	assert.Equal(t, pids(2), v.Active)
	assert.True(t, contains(v.Passive, pid(1)), "alive: kept in the passive view")
	assert.Equal(t, []proto.PeerID{nb[0].To}, v.PendingNeighbor)
	assert.True(t, n.s.NeedsPeer(nb[0].To))

	// The peer accepts: its NEIGHBOR clears the request and adds it.
	out = n.msg(int(nb[0].To[1]), proto.Neighbor{Priority: proto.PriorityLow, Data: dataOf(int(nb[0].To[1]))})
	v = n.view()
	assert.Empty(t, v.PendingNeighbor)
	assert.True(t, contains(v.Active, nb[0].To))
	assert.Len(t, eventsOf[proto.EvNeighborUp](out), 1)
	// Its stale timeout changes nothing.
	out = n.fire(tm[0].Timer)
	assert.Empty(t, out)
	assert.True(t, contains(n.view().Active, nb[0].To))
}

func TestDisconnectOfLastNeighborRefillsWithHighPriority(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 5)
	n.addActive(1)
	n.addPassive(1, 3)
	out := n.msg(1, proto.Disconnect{Alive: false, Respond: true})
	assert.Equal(t, []sent[proto.Disconnect]{{To: pid(1), Body: proto.Disconnect{Alive: true}}}, sendsOf[proto.Disconnect](out),
		"respond: a DISCONNECT goes back")
	nb := sendsOf[proto.Neighbor](out)
	require.Len(t, nb, 1)
	assert.Equal(t, pid(3), nb[0].To)
	assert.Equal(t, proto.PriorityHigh, nb[0].Body.Priority)
	v := n.view()
	assert.Empty(t, v.Active)
	assert.Equal(t, pids(3), v.Passive, "not alive: dropped from the passive view")
}

func TestNeighborRequestTimeoutRotates(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 6)
	n.addActive(1, 2)
	n.addPassive(2, 3, 4, 5)
	out := n.msg(1, proto.Disconnect{Alive: true})
	first := timersOf(out, proto.TimerNeighborRequest)
	require.Len(t, first, 1)
	p1 := first[0].Timer.Peer

	// A timer with the right peer but another sequence number is stale.
	stale := first[0].Timer
	stale.Seq += 1000
	assert.Empty(t, n.fire(stale))

	n.now = n.now.Add(500 * time.Millisecond)
	out = n.fire(first[0].Timer)
	v := n.view()
	assert.False(t, contains(v.Passive, p1), "an unanswered peer is dropped from the passive view")
	nb := sendsOf[proto.Neighbor](out)
	require.Len(t, nb, 1)
	assert.NotEqual(t, p1, nb[0].To)
	assert.Equal(t, []proto.PeerID{nb[0].To}, v.PendingNeighbor)
	second := timersOf(out, proto.TimerNeighborRequest)
	require.Len(t, second, 1)
	assert.Equal(t, nb[0].To, second[0].Timer.Peer)

	// Firing the first timer again does nothing.
	assert.Empty(t, n.fire(first[0].Timer))
}

func TestRefillCountsPendingRequests(t *testing.T) {
	cfg := proto.DefaultConfig()
	cfg.Membership.ActiveViewCapacity = 2
	n := newNode(t, cfg, 6)
	n.addActive(1, 2)
	n.addPassive(2, 3, 4, 5)
	out := n.msg(1, proto.Disconnect{Alive: true})
	require.Len(t, sendsOf[proto.Neighbor](out), 1)
	// active (1) + pending (1) = capacity: a second loss asks one more.
	out = n.msg(2, proto.Disconnect{Alive: true})
	require.Len(t, sendsOf[proto.Neighbor](out), 1)
	assert.Len(t, n.view().PendingNeighbor, 2)
}

func TestPeerDisconnectedAppliesToEveryTopic(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	for _, tp := range []proto.TopicID{topicA, topicB} {
		n.handle(proto.InMessage{From: pid(1), Msg: proto.Message{Topic: tp, Body: proto.Neighbor{Priority: proto.PriorityHigh}}})
	}
	assert.Equal(t, []proto.TopicID{topicA, topicB}, n.s.Topics())
	out := n.handle(proto.InPeerDisconnected{Peer: pid(1)})
	downs := 0
	for _, o := range out {
		if e, ok := o.(proto.OutEvent); ok {
			if _, ok := e.Event.(proto.EvNeighborDown); ok {
				downs++
			}
		}
	}
	assert.Equal(t, 2, downs)
	for _, tp := range []proto.TopicID{topicA, topicB} {
		v, _ := n.s.View(tp)
		assert.Empty(t, v.Active)
		assert.Equal(t, pids(1), v.Passive, "an IO disconnect keeps the peer as alive")
	}
	assert.False(t, n.s.NeedsPeer(pid(1)))
}

func TestOutDisconnectOnlyWhenNoTopicNeedsThePeer(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1)
	n.handle(proto.InMessage{From: pid(1), Msg: proto.Message{Topic: topicB, Body: proto.Neighbor{Priority: proto.PriorityHigh}}})
	out := n.msg(1, proto.Disconnect{Alive: true})
	assert.Empty(t, disconnects(out), "topic B still has the peer active")
	out = n.handle(proto.InMessage{From: pid(1), Msg: proto.Message{Topic: topicB, Body: proto.Disconnect{Alive: true}}})
	assert.Equal(t, pids(1), disconnects(out))
}

func TestMessageFromNonActivePeerClosesConnection(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1)
	out := n.msg(8, proto.ShuffleReply{Nodes: []proto.PeerInfo{info(20)}})
	assert.Equal(t, pids(8), disconnects(out))
	assert.Equal(t, pids(20), n.view().Passive)

	// Not while a NEIGHBOR request is pending to it.
	n.addPassive(1, 8)
	n.addActive(2)
	n.msg(2, proto.Disconnect{Alive: true}) // refill asks a passive peer
	v := n.view()
	require.Len(t, v.PendingNeighbor, 1)
	pending := v.PendingNeighbor[0]
	out = n.handle(proto.InMessage{From: pending, Msg: proto.Message{Topic: topicA, Body: proto.Prune{}}})
	assert.Empty(t, disconnects(out))

	// Not for DISCONNECT itself.
	out = n.msg(9, proto.Disconnect{Alive: true})
	assert.Empty(t, disconnects(out))
}

func TestShuffleTimerSendsShuffle(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 7)
	out := n.cmd(proto.CmdJoin{})
	sh := timersOf(out, proto.TimerShuffle)
	require.Len(t, sh, 1)
	n.addActive(1, 2, 3, 4, 5)
	n.addPassive(1, 11, 12, 13, 14, 15, 16)

	n.now = n.now.Add(60 * time.Second)
	out = n.fire(sh[0].Timer)
	shuffles := sendsOf[proto.Shuffle](out)
	require.Len(t, shuffles, 1)
	s := shuffles[0]
	assert.Contains(t, pids(1, 2, 3, 4, 5), s.To)
	assert.Equal(t, info(0), s.Body.Origin)
	assert.Equal(t, uint16(6), s.Body.TTL)
	require.Len(t, s.Body.Nodes, 7)
	seen := map[proto.PeerID]bool{}
	for i, nd := range s.Body.Nodes {
		assert.NotEqual(t, s.To, nd.ID, "the target is not in its own sample")
		assert.False(t, seen[nd.ID])
		seen[nd.ID] = true
		assert.Equal(t, dataOf(int(nd.ID[1])), nd.Data)
		if i < 3 {
			assert.Contains(t, pids(1, 2, 3, 4, 5), nd.ID)
		} else {
			assert.Contains(t, pids(11, 12, 13, 14, 15, 16), nd.ID)
		}
	}
	next := timersOf(out, proto.TimerShuffle)
	require.Len(t, next, 1)
	assert.Equal(t, 60*time.Second, next[0].After)
	// The old timer is stale now.
	assert.Empty(t, n.fire(sh[0].Timer))
}

func TestShuffleIsForwarded(t *testing.T) {
	for seed := uint64(0); seed < 10; seed++ {
		n := newNode(t, proto.DefaultConfig(), seed)
		n.addActive(1, 2, 3)
		out := n.msg(1, proto.Shuffle{Origin: info(2), Nodes: []proto.PeerInfo{info(20)}, TTL: 4})
		sh := sendsOf[proto.Shuffle](out)
		require.Len(t, sh, 1)
		assert.Equal(t, pid(3), sh[0].To, "neither the sender nor the origin")
		assert.Equal(t, uint16(3), sh[0].Body.TTL)
		assert.Empty(t, n.view().Passive)
	}
}

func TestShuffleAcceptedAndReplied(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 8)
	n.addActive(1, 2, 3)
	n.addPassive(1, 11, 12, 13, 14)
	nodes := []proto.PeerInfo{info(20), info(21), info(0), info(2)}
	out := n.msg(1, proto.Shuffle{Origin: info(9), Nodes: nodes, TTL: 0})

	v := n.view()
	assert.True(t, contains(v.Passive, pid(20)))
	assert.True(t, contains(v.Passive, pid(21)))
	assert.False(t, contains(v.Passive, pid(0)), "never ourselves")
	assert.False(t, contains(v.Passive, pid(2)), "already active")
	assert.Len(t, v.Passive, 6)

	rep := sendsOf[proto.ShuffleReply](out)
	require.Len(t, rep, 1)
	assert.Equal(t, pid(9), rep[0].To, "the reply goes to the origin")
	assert.Len(t, rep[0].Body.Nodes, len(nodes), "as many nodes as received")
	for _, nd := range rep[0].Body.Nodes {
		assert.True(t, contains(v.Passive, nd.ID))
	}
	pd := peerData(out)
	assert.Contains(t, pd, proto.OutPeerData{Peer: pid(20), Data: dataOf(20)})
	assert.Contains(t, pd, proto.OutPeerData{Peer: pid(9), Data: dataOf(9)}, "the origin's data, to reply")
}

func TestShuffleWithOneNeighborEndsTheWalk(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 8)
	n.addActive(1)
	out := n.msg(1, proto.Shuffle{Origin: info(9), Nodes: []proto.PeerInfo{info(20)}, TTL: 5})
	assert.Len(t, sendsOf[proto.ShuffleReply](out), 1)
	assert.Empty(t, sendsOf[proto.Shuffle](out))
	assert.Equal(t, pids(20), n.view().Passive)
}

func TestPassiveViewCapacityEvictsRandom(t *testing.T) {
	cfg := proto.DefaultConfig()
	cfg.Membership.PassiveViewCapacity = 3
	n := newNode(t, cfg, 9)
	n.addActive(1)
	n.addPassive(1, 11, 12, 13)
	assert.Equal(t, pids(11, 12, 13), n.view().Passive)
	n.addPassive(1, 14)
	v := n.view()
	assert.Len(t, v.Passive, 3)
	assert.True(t, contains(v.Passive, pid(14)))
}

func TestQuitDisconnectsAndDropsTopic(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2)
	out := n.cmd(proto.CmdQuit{})
	d := sendsOf[proto.Disconnect](out)
	require.Len(t, d, 2)
	for i, p := range pids(1, 2) {
		assert.Equal(t, p, d[i].To)
		assert.Equal(t, proto.Disconnect{Alive: false, Respond: true}, d[i].Body)
	}
	assert.Len(t, eventsOf[proto.EvNeighborDown](out), 2)
	assert.Equal(t, pids(1, 2), disconnects(out))
	assert.Empty(t, n.s.Topics())
	_, ok := n.s.View(topicA)
	assert.False(t, ok)

	// The peers' answering DISCONNECT does not bring the topic back.
	assert.Empty(t, n.msg(1, proto.Disconnect{Alive: true}))
	assert.Empty(t, n.s.Topics())
	// Any other message does: a peer joining us.
	n.msg(3, proto.Join{})
	assert.Equal(t, []proto.TopicID{topicA}, n.s.Topics())
}

func TestReceiverOfQuitDropsPeer(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2)
	out := n.msg(1, proto.Disconnect{Alive: false, Respond: true})
	assert.Equal(t, []sent[proto.Disconnect]{{To: pid(1), Body: proto.Disconnect{Alive: true}}}, sendsOf[proto.Disconnect](out))
	v := n.view()
	assert.Equal(t, pids(2), v.Active)
	assert.Empty(t, v.Passive)
}

func TestMessagesFromSelfAreIgnored(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	out := n.msg(0, proto.Join{})
	assert.Empty(t, out)
	assert.Empty(t, n.s.Topics())
}

func TestUpdatePeerDataIsUsedInNeighbor(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.handle(proto.InUpdatePeerData{Data: []byte("addr2")})
	out := n.msg(1, proto.Join{})
	nb := sendsOf[proto.Neighbor](out)
	require.Len(t, nb, 1)
	assert.Equal(t, []byte("addr2"), nb[0].Body.Data)
	assert.Empty(t, peerData(out), "empty peer data is not reported")
}

func TestForwardJoinAboutOurselvesWalksOn(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2)
	out := n.msg(1, proto.ForwardJoin{Peer: info(0), TTL: 0})
	fj := sendsOf[proto.ForwardJoin](out)
	require.Len(t, fj, 1)
	assert.Equal(t, pid(2), fj[0].To)
	assert.Equal(t, uint16(0), fj[0].Body.TTL)
	assert.Empty(t, sendsOf[proto.Neighbor](out))
	assert.Equal(t, pids(1, 2), n.view().Active)
}

func TestNeighborRequestTimeoutClosesUnusedConnection(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 6)
	n.addActive(1, 2)
	n.addPassive(2, 3)
	out := n.msg(1, proto.Disconnect{Alive: true})
	tm := timersOf(out, proto.TimerNeighborRequest)
	require.Len(t, tm, 1)
	require.Equal(t, pid(3), tm[0].Timer.Peer)
	out = n.fire(tm[0].Timer)
	assert.Equal(t, pids(3), disconnects(out))
	// The next candidate is peer 1 (kept in the passive view as alive).
	nb := sendsOf[proto.Neighbor](out)
	require.Len(t, nb, 1)
	assert.Equal(t, pid(1), nb[0].To)
	assert.False(t, contains(n.view().Passive, pid(3)))
}

func TestRefusedRequestClosedByPeerIsNotRetried(t *testing.T) {
	// iroh (2024-07): a refused low-priority request shows up as the peer
	// closing the connection; the request is over and nothing else is
	// asked until the next neighbour is lost.
	n := newNode(t, proto.DefaultConfig(), 6)
	n.addActive(1, 2)
	n.addPassive(2, 3, 4)
	out := n.msg(1, proto.Disconnect{Alive: true})
	nb := sendsOf[proto.Neighbor](out)
	require.Len(t, nb, 1)
	out = n.handle(proto.InPeerDisconnected{Peer: nb[0].To})
	assert.Empty(t, sendsOf[proto.Neighbor](out))
	v := n.view()
	assert.Empty(t, v.PendingNeighbor)
	assert.True(t, contains(v.Passive, nb[0].To), "an IO disconnect keeps the peer as alive")
}
