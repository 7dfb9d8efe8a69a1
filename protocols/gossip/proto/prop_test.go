package proto_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/detsim/detsim/protocols/gossip/proto"
	"github.com/detsim/detsim/sim"
)

// The property test feeds one State random inputs (messages of every kind
// from a handful of peers on two topics, commands, timers it asked for and
// made-up ones, disconnects, time jumps) and checks after every Handle that
// it did not panic, returned an error only for an oversized broadcast, and
// that the views are consistent.

const propPeers = 9 // peer 0 is the node itself

var propContents = [][]byte{[]byte("a"), []byte("b"), []byte("cc"), []byte("a much longer payload")}

func drawPeer(t *rapid.T, label string) int { return rapid.IntRange(0, propPeers-1).Draw(t, label) }

func drawInfos(t *rapid.T, label string) []proto.PeerInfo {
	n := rapid.IntRange(0, 8).Draw(t, label+"Len")
	out := make([]proto.PeerInfo, n)
	for i := range out {
		p := drawPeer(t, label)
		out[i] = proto.PeerInfo{ID: pid(p), Data: rapid.SampledFrom([][]byte{nil, dataOf(p), []byte("x")}).Draw(t, label+"Data")}
	}
	return out
}

func drawID(t *rapid.T) proto.MessageID {
	c := rapid.SampledFrom(propContents).Draw(t, "idOf")
	id := mid(c)
	if rapid.IntRange(0, 9).Draw(t, "bogusID") == 0 {
		id[5] ^= 0xff
	}
	return id
}

func drawBody(t *rapid.T) proto.Body {
	switch rapid.IntRange(0, 9).Draw(t, "body") {
	case 0:
		return proto.Join{Data: rapid.SampledFrom([][]byte{nil, []byte("j")}).Draw(t, "joinData")}
	case 1:
		return proto.ForwardJoin{Peer: info(drawPeer(t, "fjPeer")), TTL: rapid.Uint16Range(0, 7).Draw(t, "ttl")}
	case 2:
		return proto.Neighbor{Priority: proto.Priority(rapid.IntRange(0, 1).Draw(t, "prio")), Data: []byte("n")}
	case 3:
		return proto.Shuffle{Origin: info(drawPeer(t, "origin")), Nodes: drawInfos(t, "shuffle"), TTL: rapid.Uint16Range(0, 7).Draw(t, "ttl")}
	case 4:
		return proto.ShuffleReply{Nodes: drawInfos(t, "reply")}
	case 5:
		return proto.Disconnect{Alive: rapid.Bool().Draw(t, "alive"), Respond: rapid.Bool().Draw(t, "respond")}
	case 6:
		c := rapid.SampledFrom(propContents).Draw(t, "content")
		g := proto.Gossip{ID: mid(c), Content: c, Scope: proto.DeliveryScope{
			Neighbors: rapid.IntRange(0, 4).Draw(t, "nbScope") == 0,
			Round:     rapid.Uint16Range(0, 12).Draw(t, "round"),
		}}
		if rapid.IntRange(0, 9).Draw(t, "corrupt") == 0 {
			g.ID[0] ^= 1
		}
		return g
	case 7:
		n := rapid.IntRange(0, 3).Draw(t, "ihaveLen")
		var es []proto.IHaveEntry
		for i := 0; i < n; i++ {
			es = append(es, proto.IHaveEntry{ID: drawID(t), Round: rapid.Uint16Range(0, 12).Draw(t, "round")})
		}
		return proto.IHave{Entries: es}
	case 8:
		g := proto.Graft{Round: rapid.Uint16Range(0, 12).Draw(t, "round")}
		if rapid.Bool().Draw(t, "graftID") {
			id := drawID(t)
			g.ID = &id
		}
		return g
	default:
		return proto.Prune{}
	}
}

func drawInput(t *rapid.T, timers []proto.Timer) proto.Input {
	topic := rapid.SampledFrom([]proto.TopicID{topicA, topicB}).Draw(t, "topic")
	switch k := rapid.IntRange(0, 19).Draw(t, "kind"); {
	case k < 10:
		return proto.InMessage{From: pid(drawPeer(t, "from")), Msg: proto.Message{Topic: topic, Body: drawBody(t)}}
	case k < 13:
		switch rapid.IntRange(0, 5).Draw(t, "cmd") {
		case 0, 1:
			n := rapid.IntRange(0, 3).Draw(t, "joinLen")
			var ps []proto.PeerID
			for i := 0; i < n; i++ {
				ps = append(ps, pid(drawPeer(t, "bootstrap")))
			}
			return proto.InCommand{Topic: topic, Cmd: proto.CmdJoin{Peers: ps}}
		case 2, 3, 4:
			size := rapid.IntRange(0, 20).Draw(t, "size")
			return proto.InCommand{Topic: topic, Cmd: proto.CmdBroadcast{
				Content:   []byte(fmt.Sprintf("%0*d", size, size)),
				Neighbors: rapid.Bool().Draw(t, "neighbors"),
			}}
		default:
			return proto.InCommand{Topic: topic, Cmd: proto.CmdQuit{}}
		}
	case k < 17:
		if len(timers) > 0 && rapid.IntRange(0, 4).Draw(t, "madeUpTimer") > 0 {
			return proto.InTimer{Timer: timers[rapid.IntRange(0, len(timers)-1).Draw(t, "timer")]}
		}
		return proto.InTimer{Timer: proto.Timer{
			Topic: topic,
			Kind:  proto.TimerKind(rapid.IntRange(0, 6).Draw(t, "timerKind")),
			Peer:  pid(drawPeer(t, "timerPeer")),
			ID:    drawID(t),
			Seq:   rapid.Uint64Range(0, 50).Draw(t, "seq"),
		}}
	case k < 19:
		return proto.InPeerDisconnected{Peer: pid(drawPeer(t, "disconnected"))}
	default:
		return proto.InUpdatePeerData{Data: []byte(rapid.StringN(0, 4, -1).Draw(t, "myData"))}
	}
}

func noDuplicates(t *rapid.T, what string, ps []proto.PeerID) {
	for i := range ps {
		for j := i + 1; j < len(ps); j++ {
			if ps[i] == ps[j] {
				t.Fatalf("%s holds %v twice: %v", what, ps[i], ps)
			}
		}
	}
}

func checkState(t *rapid.T, s *proto.State, cfg proto.Config, out []proto.Output) {
	me := s.Me()
	needs := map[proto.PeerID]bool{}
	for _, tp := range s.Topics() {
		v, ok := s.View(tp)
		if !ok {
			t.Fatalf("topic %v listed but has no view", tp)
		}
		if len(v.Active) > cfg.Membership.ActiveViewCapacity {
			t.Fatalf("active view %d over capacity %d", len(v.Active), cfg.Membership.ActiveViewCapacity)
		}
		if len(v.Passive) > cfg.Membership.PassiveViewCapacity {
			t.Fatalf("passive view %d over capacity %d", len(v.Passive), cfg.Membership.PassiveViewCapacity)
		}
		for _, set := range []struct {
			name string
			ps   []proto.PeerID
		}{{"active", v.Active}, {"passive", v.Passive}, {"eager", v.Eager}, {"lazy", v.Lazy}, {"pending", v.PendingNeighbor}} {
			noDuplicates(t, set.name, set.ps)
			if contains(set.ps, me) {
				t.Fatalf("%s view holds ourselves", set.name)
			}
		}
		for _, p := range v.Active {
			if contains(v.Passive, p) {
				t.Fatalf("%v is active and passive", p)
			}
			if contains(v.PendingNeighbor, p) {
				t.Fatalf("%v is active and has a request pending", p)
			}
			needs[p] = true
		}
		for _, p := range v.PendingNeighbor {
			needs[p] = true
		}
		for _, p := range v.Eager {
			if !contains(v.Active, p) {
				t.Fatalf("eager %v is not active", p)
			}
			if contains(v.Lazy, p) {
				t.Fatalf("%v is eager and lazy", p)
			}
		}
		for _, p := range v.Lazy {
			if !contains(v.Active, p) {
				t.Fatalf("lazy %v is not active", p)
			}
		}
	}
	for i := 0; i < propPeers; i++ {
		if got := s.NeedsPeer(pid(i)); got != needs[pid(i)] {
			t.Fatalf("NeedsPeer(%d) = %v, views say %v", i, got, needs[pid(i)])
		}
	}
	for _, o := range out {
		switch o := o.(type) {
		case proto.OutSend:
			if o.To == me {
				t.Fatalf("sends to itself: %+v", o)
			}
			if o.Msg.Body == nil {
				t.Fatalf("nil body")
			}
			if ih, ok := o.Msg.Body.(proto.IHave); ok && (len(ih.Entries) == 0 || len(ih.Entries) > 1024) {
				t.Fatalf("IHave with %d entries", len(ih.Entries))
			}
		case proto.OutTimer:
			if o.After <= 0 {
				t.Fatalf("timer %+v not in the future", o)
			}
		case proto.OutDisconnect:
			if s.NeedsPeer(o.Peer) {
				t.Fatalf("disconnects %v which a topic still needs", o.Peer)
			}
		}
	}
}

func TestPropertyRandomInputs(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		cfg := proto.DefaultConfig()
		cfg.Membership.ActiveViewCapacity = rapid.IntRange(1, 5).Draw(rt, "activeCap")
		cfg.Membership.PassiveViewCapacity = rapid.IntRange(0, 6).Draw(rt, "passiveCap")
		cfg.Membership.PassiveRandomWalkLength = rapid.Uint16Range(0, 4).Draw(rt, "prwl")
		cfg.Membership.ShuffleActiveViewCount = rapid.IntRange(0, 3).Draw(rt, "shuffleActive")
		cfg.Membership.ShufflePassiveViewCount = rapid.IntRange(0, 4).Draw(rt, "shufflePassive")
		cfg.Broadcast.OptimizationThreshold = rapid.Uint16Range(1, 8).Draw(rt, "threshold")
		cfg.MaxMessageSize = rapid.IntRange(1, 24).Draw(rt, "maxSize")
		s, err := proto.NewState(info(0), cfg, sim.NewRand(rapid.Uint64().Draw(rt, "seed")))
		if err != nil {
			rt.Fatalf("NewState: %v", err)
		}
		now := t0
		var timers []proto.Timer
		steps := rapid.IntRange(1, 200).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			in := drawInput(rt, timers)
			now = now.Add(rapid.SampledFrom([]time.Duration{0, time.Millisecond, 40 * time.Millisecond, 500 * time.Millisecond, 31 * time.Second}).Draw(rt, "dt"))
			out, err := s.Handle(now, in, nil)
			if err != nil {
				c, ok := in.(proto.InCommand)
				b, isBroadcast := c.Cmd.(proto.CmdBroadcast)
				if !ok || !isBroadcast || len(b.Content) <= cfg.MaxMessageSize || !errors.Is(err, proto.ErrMessageTooLarge) {
					rt.Fatalf("unexpected error for %#v: %v", in, err)
				}
				if len(out) != 0 {
					rt.Fatalf("outputs with an error: %v", out)
				}
			}
			for _, o := range out {
				if tm, ok := o.(proto.OutTimer); ok {
					timers = append(timers, tm.Timer)
				}
			}
			checkState(rt, s, cfg, out)
		}
	})
}
