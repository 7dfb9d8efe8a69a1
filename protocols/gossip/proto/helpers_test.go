package proto_test

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/detsim/detsim/protocols/gossip/proto"
	"github.com/detsim/detsim/sim"
)

var (
	t0     = time.Unix(1_700_000_000, 0).UTC()
	topicA = proto.TopicID{0xaa}
	topicB = proto.TopicID{0xbb}
)

// pid is the test peer numbered n (peer 0 is the node under test in unit
// tests).
func pid(n int) proto.PeerID {
	var p proto.PeerID
	p[0], p[1], p[31] = byte(n>>8), byte(n), 0x5a
	return p
}

func pids(ns ...int) []proto.PeerID {
	out := make([]proto.PeerID, len(ns))
	for i, n := range ns {
		out[i] = pid(n)
	}
	return out
}

func dataOf(n int) []byte { return []byte{'a', byte(n >> 8), byte(n)} }

func info(n int) proto.PeerInfo { return proto.PeerInfo{ID: pid(n), Data: dataOf(n)} }

func mid(content []byte) proto.MessageID { return sha256.Sum256(content) }

// node drives one State in unit tests.
type node struct {
	t   *testing.T
	s   *proto.State
	now time.Time
}

func newNode(t *testing.T, cfg proto.Config, seed uint64) *node {
	t.Helper()
	s, err := proto.NewState(info(0), cfg, sim.NewRand(seed))
	require.NoError(t, err)
	return &node{t: t, s: s, now: t0}
}

func (n *node) handle(in proto.Input) []proto.Output {
	n.t.Helper()
	out, err := n.s.Handle(n.now, in, nil)
	require.NoError(n.t, err)
	return out
}

func (n *node) msg(from int, body proto.Body) []proto.Output {
	return n.handle(proto.InMessage{From: pid(from), Msg: proto.Message{Topic: topicA, Body: body}})
}

func (n *node) cmd(c proto.Command) []proto.Output {
	return n.handle(proto.InCommand{Topic: topicA, Cmd: c})
}

func (n *node) fire(tm proto.Timer) []proto.Output { return n.handle(proto.InTimer{Timer: tm}) }

func (n *node) view() proto.TopicView {
	v, ok := n.s.View(topicA)
	require.True(n.t, ok)
	return v
}

// addActive makes the given peers active neighbours (NEIGHBOR high).
func (n *node) addActive(ns ...int) {
	for _, p := range ns {
		n.msg(p, proto.Neighbor{Priority: proto.PriorityHigh, Data: dataOf(p)})
	}
}

// addPassive fills the passive view through a SHUFFLEREPLY from peer via.
func (n *node) addPassive(via int, ns ...int) {
	nodes := make([]proto.PeerInfo, len(ns))
	for i, p := range ns {
		nodes[i] = info(p)
	}
	n.msg(via, proto.ShuffleReply{Nodes: nodes})
}

type sent[B proto.Body] struct {
	To   proto.PeerID
	Body B
}

// sendsOf returns the messages of body type B in out, in order.
func sendsOf[B proto.Body](out []proto.Output) []sent[B] {
	var r []sent[B]
	for _, o := range out {
		if s, ok := o.(proto.OutSend); ok {
			if b, ok := s.Msg.Body.(B); ok {
				r = append(r, sent[B]{To: s.To, Body: b})
			}
		}
	}
	return r
}

func sendsTo(out []proto.Output, p proto.PeerID) []proto.Body {
	var r []proto.Body
	for _, o := range out {
		if s, ok := o.(proto.OutSend); ok && s.To == p {
			r = append(r, s.Msg.Body)
		}
	}
	return r
}

func eventsOf[E proto.Event](out []proto.Output) []E {
	var r []E
	for _, o := range out {
		if e, ok := o.(proto.OutEvent); ok {
			if ev, ok := e.Event.(E); ok {
				r = append(r, ev)
			}
		}
	}
	return r
}

func timersOf(out []proto.Output, kind proto.TimerKind) []proto.OutTimer {
	var r []proto.OutTimer
	for _, o := range out {
		if tm, ok := o.(proto.OutTimer); ok && tm.Timer.Kind == kind {
			r = append(r, tm)
		}
	}
	return r
}

func disconnects(out []proto.Output) []proto.PeerID {
	var r []proto.PeerID
	for _, o := range out {
		if d, ok := o.(proto.OutDisconnect); ok {
			r = append(r, d.Peer)
		}
	}
	return r
}

func peerData(out []proto.Output) []proto.OutPeerData {
	var r []proto.OutPeerData
	for _, o := range out {
		if d, ok := o.(proto.OutPeerData); ok {
			r = append(r, d)
		}
	}
	return r
}

func contains(s []proto.PeerID, p proto.PeerID) bool {
	for _, q := range s {
		if q == p {
			return true
		}
	}
	return false
}
