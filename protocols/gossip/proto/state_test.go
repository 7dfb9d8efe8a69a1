package proto_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/detsim/detsim/protocols/gossip/proto"
	"github.com/detsim/detsim/sim"
)

func TestDefaultConfig(t *testing.T) {
	c := proto.DefaultConfig()
	require.NoError(t, c.Validate())
	m, b := c.Membership, c.Broadcast
	assert.Equal(t, 5, m.ActiveViewCapacity)
	assert.Equal(t, 30, m.PassiveViewCapacity)
	assert.Equal(t, uint16(6), m.ActiveRandomWalkLength)
	assert.Equal(t, uint16(3), m.PassiveRandomWalkLength)
	assert.Equal(t, uint16(6), m.ShuffleRandomWalkLength)
	assert.Equal(t, 3, m.ShuffleActiveViewCount)
	assert.Equal(t, 4, m.ShufflePassiveViewCount)
	assert.Equal(t, 60*time.Second, m.ShuffleInterval)
	assert.Equal(t, 500*time.Millisecond, m.NeighborRequestTimeout)
	assert.Equal(t, 80*time.Millisecond, b.GraftTimeout1)
	assert.Equal(t, 40*time.Millisecond, b.GraftTimeout2)
	assert.Equal(t, 5*time.Millisecond, b.DispatchTimeout)
	assert.Equal(t, uint16(7), b.OptimizationThreshold)
	assert.Equal(t, 30*time.Second, b.MessageCacheRetention)
	assert.Equal(t, 90*time.Second, b.MessageIDRetention)
	assert.Equal(t, time.Second, b.CacheEvictInterval)
	assert.Equal(t, 4096, c.MaxMessageSize)
	assert.False(t, c == proto.Config{}, "comparable")
}

func TestConfigValidateNamesFieldAndValue(t *testing.T) {
	cases := []struct {
		mut  func(*proto.Config)
		want []string
	}{
		{func(c *proto.Config) { c.Membership.ActiveViewCapacity = 0 }, []string{"ActiveViewCapacity", "0"}},
		{func(c *proto.Config) { c.Membership.PassiveViewCapacity = -1 }, []string{"PassiveViewCapacity", "-1"}},
		{func(c *proto.Config) { c.Membership.ShuffleActiveViewCount = -2 }, []string{"ShuffleActiveViewCount", "-2"}},
		{func(c *proto.Config) { c.Membership.ShufflePassiveViewCount = 70 }, []string{"ShufflePassiveViewCount", "73"}},
		{func(c *proto.Config) { c.Membership.ShuffleInterval = 0 }, []string{"ShuffleInterval", "0s"}},
		{func(c *proto.Config) { c.Membership.NeighborRequestTimeout = -time.Second }, []string{"NeighborRequestTimeout", "-1s"}},
		{func(c *proto.Config) { c.Broadcast.GraftTimeout1 = 0 }, []string{"GraftTimeout1", "0s"}},
		{func(c *proto.Config) { c.Broadcast.GraftTimeout2 = 0 }, []string{"GraftTimeout2"}},
		{func(c *proto.Config) { c.Broadcast.DispatchTimeout = 0 }, []string{"DispatchTimeout"}},
		{func(c *proto.Config) { c.Broadcast.OptimizationThreshold = 0 }, []string{"OptimizationThreshold", "0"}},
		{func(c *proto.Config) { c.Broadcast.MessageCacheRetention = 0 }, []string{"MessageCacheRetention"}},
		{func(c *proto.Config) { c.Broadcast.MessageIDRetention = time.Second }, []string{"MessageIDRetention", "1s", "30s"}},
		{func(c *proto.Config) { c.Broadcast.CacheEvictInterval = 0 }, []string{"CacheEvictInterval"}},
		{func(c *proto.Config) { c.MaxMessageSize = 0 }, []string{"MaxMessageSize", "0"}},
	}
	for _, tc := range cases {
		c := proto.DefaultConfig()
		tc.mut(&c)
		err := c.Validate()
		require.Error(t, err, tc.want[0])
		for _, w := range tc.want {
			assert.Contains(t, err.Error(), w)
		}
		_, err = proto.NewState(info(0), c, sim.NewRand(1))
		assert.Error(t, err)
	}
}

func TestHandleRejectsUnknownInputsAndCommands(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	_, err := n.s.Handle(n.now, nil, nil)
	assert.Error(t, err)
	_, err = n.s.Handle(n.now, proto.InCommand{Topic: topicA}, nil)
	assert.Error(t, err)
	assert.Empty(t, n.s.Topics())
}

func TestHandleAcceptsPointerForms(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	out, err := n.s.Handle(n.now, &proto.InMessage{From: pid(1), Msg: proto.Message{Topic: topicA, Body: &proto.Join{}}}, nil)
	require.NoError(t, err)
	assert.Len(t, sendsOf[proto.Neighbor](out), 1)
	out, err = n.s.Handle(n.now, proto.InCommand{Topic: topicA, Cmd: &proto.CmdBroadcast{Content: []byte("p")}}, nil)
	require.NoError(t, err)
	assert.Len(t, sendsOf[proto.Gossip](out), 1)
}

func TestHandleAppendsToOut(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	prev := []proto.Output{proto.OutDisconnect{Peer: pid(99)}}
	out, err := n.s.Handle(n.now, proto.InCommand{Topic: topicA, Cmd: proto.CmdJoin{Peers: pids(1)}}, prev)
	require.NoError(t, err)
	require.Greater(t, len(out), 1)
	assert.Equal(t, prev[0], out[0])
}

func TestMessageForUnknownTopicCreatesIt(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	out := n.handle(proto.InMessage{From: pid(1), Msg: proto.Message{Topic: topicB, Body: proto.Join{Data: dataOf(1)}}})
	assert.Len(t, timersOf(out, proto.TimerShuffle), 1)
	assert.Equal(t, []proto.TopicID{topicB}, n.s.Topics())
	v, ok := n.s.View(topicB)
	require.True(t, ok)
	assert.Equal(t, pids(1), v.Active)
	assert.True(t, n.s.NeedsPeer(pid(1)))
	assert.Equal(t, pid(0), n.s.Me())
}

func TestTimersOfUnknownTopicAreIgnored(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	out := n.fire(proto.Timer{Topic: topicB, Kind: proto.TimerShuffle, Seq: 1})
	assert.Empty(t, out)
	assert.Empty(t, n.s.Topics())
}

func TestViewReturnsCopies(t *testing.T) {
	n := newNode(t, proto.DefaultConfig(), 1)
	n.addActive(1, 2)
	v := n.view()
	v.Active[0] = pid(50)
	v.Eager[0] = pid(50)
	assert.Equal(t, pids(1, 2), n.view().Active)
	assert.Equal(t, pids(1, 2), n.view().Eager)
}

// TestSameSeedSameOutputs: the whole output stream is a function of the
// inputs and the seed.
func TestSameSeedSameOutputs(t *testing.T) {
	run := func(seed uint64) []proto.Output {
		n := newNode(t, proto.DefaultConfig(), seed)
		var all []proto.Output
		all = append(all, n.cmd(proto.CmdJoin{Peers: pids(1, 2)})...)
		for p := 1; p <= 8; p++ {
			all = append(all, n.msg(p, proto.Join{Data: dataOf(p)})...)
		}
		all = append(all, n.msg(3, proto.Disconnect{Alive: true})...)
		all = append(all, n.msg(4, proto.Shuffle{Origin: info(30), Nodes: []proto.PeerInfo{info(31), info(32)}, TTL: 3})...)
		return all
	}
	assert.Equal(t, run(42), run(42))
	assert.NotEqual(t, run(42), run(43))
}
