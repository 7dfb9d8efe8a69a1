package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/detsim/detsim/protocols/gossip/proto"
	"github.com/detsim/detsim/protocols/gossip/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fill(n int, seed byte) []byte {
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func id32(seed byte) (a [32]byte) {
	for i := range a {
		a[i] = seed ^ byte(i)
	}
	return a
}

func peer(seed byte, n int) proto.PeerInfo {
	return proto.PeerInfo{ID: id32(seed), Data: fill(n, seed)}
}

func peers(k, n int) []proto.PeerInfo {
	if k == 0 {
		return nil
	}
	ps := make([]proto.PeerInfo, k)
	for i := range ps {
		ps[i] = peer(byte(i), n)
	}
	return ps
}

func entries(k int) []proto.IHaveEntry {
	if k == 0 {
		return nil
	}
	es := make([]proto.IHaveEntry, k)
	for i := range es {
		es[i] = proto.IHaveEntry{ID: id32(byte(i)), Round: uint16(i * 31)}
	}
	return es
}

func msgID(seed byte) *proto.MessageID {
	id := proto.MessageID(id32(seed))
	return &id
}

type namedMessage struct {
	name string
	msg  proto.Message
}

// samples are messages of every kind, from empty to the limits.
func samples() []namedMessage {
	topic := proto.TopicID(id32(0x70))
	bodies := []struct {
		name string
		body proto.Body
	}{
		{"join/empty", proto.Join{}},
		{"join/data", proto.Join{Data: []byte("10.0.0.1:4000")}},
		{"join/max", proto.Join{Data: fill(wire.MaxPeerDataSize, 1)}},
		{"forwardjoin/empty", proto.ForwardJoin{}},
		{"forwardjoin", proto.ForwardJoin{Peer: peer(3, 20), TTL: 6}},
		{"forwardjoin/max", proto.ForwardJoin{Peer: peer(4, wire.MaxPeerDataSize), TTL: 0xffff}},
		{"neighbor/low", proto.Neighbor{Priority: proto.PriorityLow}},
		{"neighbor/high", proto.Neighbor{Priority: proto.PriorityHigh, Data: []byte("addr")}},
		{"neighbor/max", proto.Neighbor{Priority: proto.PriorityHigh, Data: fill(wire.MaxPeerDataSize, 5)}},
		{"shuffle/empty", proto.Shuffle{}},
		{"shuffle", proto.Shuffle{Origin: peer(9, 4), Nodes: peers(7, 10), TTL: 3}},
		{"shuffle/max", proto.Shuffle{Origin: peer(9, wire.MaxPeerDataSize), Nodes: peers(wire.MaxShuffleNodes, wire.MaxPeerDataSize), TTL: 0xffff}},
		{"shufflereply/empty", proto.ShuffleReply{}},
		{"shufflereply", proto.ShuffleReply{Nodes: peers(3, 0)}},
		{"shufflereply/max", proto.ShuffleReply{Nodes: peers(wire.MaxShuffleNodes, wire.MaxPeerDataSize)}},
		{"disconnect/ff", proto.Disconnect{}},
		{"disconnect/tf", proto.Disconnect{Alive: true}},
		{"disconnect/ft", proto.Disconnect{Respond: true}},
		{"disconnect/tt", proto.Disconnect{Alive: true, Respond: true}},
		{"gossip/empty", proto.Gossip{}},
		{"gossip", proto.Gossip{ID: id32(0x33), Content: []byte("hello"), Scope: proto.DeliveryScope{Round: 4}}},
		{"gossip/neighbors", proto.Gossip{ID: id32(0x34), Content: []byte("hi"), Scope: proto.DeliveryScope{Neighbors: true}}},
		{"gossip/max", proto.Gossip{ID: id32(0x35), Content: fill(wire.MaxContentSize, 6), Scope: proto.DeliveryScope{Neighbors: true, Round: 0xffff}}},
		{"ihave/empty", proto.IHave{}},
		{"ihave", proto.IHave{Entries: entries(3)}},
		{"ihave/max", proto.IHave{Entries: entries(wire.MaxIHaveEntries)}},
		{"graft/noid", proto.Graft{Round: 2}},
		{"graft/id", proto.Graft{ID: msgID(0x44), Round: 0xffff}},
		{"prune", proto.Prune{}},
	}
	out := make([]namedMessage, len(bodies))
	for i, b := range bodies {
		out[i] = namedMessage{b.name, proto.Message{Topic: topic, Body: b.body}}
	}
	return out
}

func hellos() []wire.Hello {
	return []wire.Hello{
		{},
		{Version: wire.Version, ID: id32(1), Data: []byte("127.0.0.1:9000")},
		{Version: 0xff, ID: id32(2), Data: fill(wire.MaxPeerDataSize, 2)},
	}
}

func encode(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := wire.AppendMessage(nil, m)
	require.NoError(t, err)
	return b
}

func TestRoundTripTable(t *testing.T) {
	kinds := map[reflect.Type]bool{}
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			b := encode(t, s.msg)
			assert.LessOrEqual(t, len(b), wire.MaxFrameSize)
			f, err := wire.Decode(b)
			require.NoError(t, err)
			require.Nil(t, f.Hello)
			require.NotNil(t, f.Msg)
			assert.True(t, reflect.DeepEqual(s.msg, *f.Msg), "got %+v want %+v", *f.Msg, s.msg)
			again := encode(t, *f.Msg)
			assert.Equal(t, b, again)
		})
		kinds[reflect.TypeOf(s.msg.Body)] = true
	}
	assert.Len(t, kinds, 10, "every body kind is covered")

	for i, h := range hellos() {
		t.Run(fmt.Sprintf("hello/%d", i), func(t *testing.T) {
			b, err := wire.AppendHello(nil, h)
			require.NoError(t, err)
			f, err := wire.Decode(b)
			require.NoError(t, err)
			require.Nil(t, f.Msg)
			require.NotNil(t, f.Hello)
			assert.True(t, reflect.DeepEqual(h, *f.Hello), "got %+v want %+v", *f.Hello, h)
		})
	}
}

// TestEmptyDecodesNil: empty and nil slices encode alike and decode as nil.
func TestEmptyDecodesNil(t *testing.T) {
	topic := proto.TopicID(id32(1))
	for _, body := range []proto.Body{
		proto.Join{Data: []byte{}},
		proto.Shuffle{Origin: proto.PeerInfo{Data: []byte{}}, Nodes: []proto.PeerInfo{}},
		proto.ShuffleReply{Nodes: []proto.PeerInfo{{Data: []byte{}}}},
		proto.Gossip{Content: []byte{}},
		proto.IHave{Entries: []proto.IHaveEntry{}},
	} {
		withEmpty := encode(t, proto.Message{Topic: topic, Body: body})
		f, err := wire.Decode(withEmpty)
		require.NoError(t, err)
		switch b := f.Msg.Body.(type) {
		case proto.Join:
			assert.Nil(t, b.Data)
		case proto.Shuffle:
			assert.Nil(t, b.Origin.Data)
			assert.Nil(t, b.Nodes)
		case proto.ShuffleReply:
			require.Len(t, b.Nodes, 1)
			assert.Nil(t, b.Nodes[0].Data)
		case proto.Gossip:
			assert.Nil(t, b.Content)
		case proto.IHave:
			assert.Nil(t, b.Entries)
		}
		assert.Equal(t, withEmpty, encode(t, *f.Msg))
	}
	b, err := wire.AppendHello(nil, wire.Hello{Data: []byte{}})
	require.NoError(t, err)
	f, err := wire.Decode(b)
	require.NoError(t, err)
	assert.Nil(t, f.Hello.Data)
}

// TestSizes: the encodings at the limits have the sizes the package
// documentation gives, and all fit in MaxFrameSize.
func TestSizes(t *testing.T) {
	want := map[string]int{
		"join/max": 548, "forwardjoin/max": 582, "neighbor/max": 549,
		"shuffle/max": 35528, "shufflereply/max": 34980, "disconnect/tt": 36,
		"gossip/max": 4169, "ihave/max": 34852, "graft/id": 69, "prune": 34,
	}
	largest := 0
	for _, s := range samples() {
		n := len(encode(t, s.msg))
		largest = max(largest, n)
		if w, ok := want[s.name]; ok {
			assert.Equal(t, w, n, s.name)
		}
	}
	assert.Equal(t, wire.MaxBodySize, largest)
	assert.LessOrEqual(t, wire.MaxBodySize, wire.MaxFrameSize)
	b, err := wire.AppendHello(nil, hellos()[2])
	require.NoError(t, err)
	assert.Equal(t, 548, len(b))
}

// TestAppendKeepsPrefix: Append* append to what is there already.
func TestAppendKeepsPrefix(t *testing.T) {
	prefix := []byte("xyz")
	for _, s := range samples() {
		b, err := wire.AppendMessage(bytes.Clone(prefix), s.msg)
		require.NoError(t, err)
		assert.Equal(t, prefix, b[:3])
		assert.Equal(t, encode(t, s.msg), b[3:])
	}
	b, err := wire.AppendHello(bytes.Clone(prefix), hellos()[1])
	require.NoError(t, err)
	alone, err := wire.AppendHello(nil, hellos()[1])
	require.NoError(t, err)
	assert.Equal(t, append(bytes.Clone(prefix), alone...), b)
}

// TestNoAliasing: decoded values survive the body being overwritten.
func TestNoAliasing(t *testing.T) {
	for _, s := range samples() {
		b := encode(t, s.msg)
		f, err := wire.Decode(b)
		require.NoError(t, err)
		for i := range b {
			b[i] = 0xAA
		}
		assert.True(t, reflect.DeepEqual(s.msg, *f.Msg), s.name)
	}
	for _, h := range hellos() {
		b, err := wire.AppendHello(nil, h)
		require.NoError(t, err)
		f, err := wire.Decode(b)
		require.NoError(t, err)
		for i := range b {
			b[i] = 0xAA
		}
		assert.True(t, reflect.DeepEqual(h, *f.Hello))
	}
}

// otherBody satisfies proto.Body (by embedding) but is no wire body.
type otherBody struct{ proto.Prune }

func TestEncodeErrors(t *testing.T) {
	topic := proto.TopicID(id32(9))
	big := fill(wire.MaxPeerDataSize+1, 0)
	cases := []struct {
		name     string
		body     proto.Body
		sentinel error
		msg      string
	}{
		{"nil body", nil, wire.ErrNilBody, "wire: cannot encode message.body: nil body"},
		{"unknown body", otherBody{}, wire.ErrUnknownBody, "wire: cannot encode message.body: unknown body type wire_test.otherBody"},
		{"pointer body", &proto.Join{}, wire.ErrUnknownBody, "wire: cannot encode message.body: unknown body type *proto.Join"},
		{"join data", proto.Join{Data: big}, wire.ErrOverLimit, "wire: cannot encode join.data: length 513 exceeds 512"},
		{"forwardjoin data", proto.ForwardJoin{Peer: proto.PeerInfo{Data: big}}, wire.ErrOverLimit, "wire: cannot encode forwardjoin.peer.data: length 513 exceeds 512"},
		{"neighbor data", proto.Neighbor{Data: big}, wire.ErrOverLimit, "wire: cannot encode neighbor.data: length 513 exceeds 512"},
		{"neighbor priority", proto.Neighbor{Priority: 2}, wire.ErrInvalidValue, "wire: cannot encode neighbor.priority: invalid priority 2"},
		{"shuffle origin", proto.Shuffle{Origin: proto.PeerInfo{Data: big}}, wire.ErrOverLimit, "wire: cannot encode shuffle.origin.data: length 513 exceeds 512"},
		{"shuffle count", proto.Shuffle{Nodes: peers(wire.MaxShuffleNodes+1, 0)}, wire.ErrOverLimit, "wire: cannot encode shuffle.nodes: count 65 exceeds 64"},
		{"shuffle node data", proto.Shuffle{Nodes: append(peers(3, 1), proto.PeerInfo{Data: fill(9000, 0)})}, wire.ErrOverLimit, "wire: cannot encode shuffle.nodes[3].data: length 9000 exceeds 512"},
		{"shufflereply count", proto.ShuffleReply{Nodes: peers(wire.MaxShuffleNodes+1, 0)}, wire.ErrOverLimit, "wire: cannot encode shufflereply.nodes: count 65 exceeds 64"},
		{"shufflereply node data", proto.ShuffleReply{Nodes: []proto.PeerInfo{{Data: big}}}, wire.ErrOverLimit, "wire: cannot encode shufflereply.nodes[0].data: length 513 exceeds 512"},
		{"gossip content", proto.Gossip{Content: fill(wire.MaxContentSize+1, 0)}, wire.ErrOverLimit, "wire: cannot encode gossip.content: length 4097 exceeds 4096"},
		{"ihave count", proto.IHave{Entries: entries(wire.MaxIHaveEntries + 1)}, wire.ErrOverLimit, "wire: cannot encode ihave.entries: count 1025 exceeds 1024"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := []byte("prefix")
			out, err := wire.AppendMessage(in, proto.Message{Topic: topic, Body: c.body})
			require.Error(t, err)
			assert.ErrorIs(t, err, c.sentinel)
			var ee *wire.EncodeError
			assert.ErrorAs(t, err, &ee)
			assert.EqualError(t, err, c.msg)
			assert.Equal(t, []byte("prefix"), out, "the input is returned as it was")
		})
	}

	out, err := wire.AppendHello([]byte("p"), wire.Hello{Data: big})
	assert.ErrorIs(t, err, wire.ErrOverLimit)
	assert.EqualError(t, err, "wire: cannot encode hello.data: length 513 exceeds 512")
	assert.Equal(t, []byte("p"), out)
}

// --- hand-built bodies for the decoder's rejections ---

var topicBytes = bytes.Repeat([]byte{0x5a}, 32)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
func u8(v byte) []byte           { return []byte{v} }
func u16(v uint16) []byte        { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte        { return binary.BigEndian.AppendUint32(nil, v) }
func zeros(n int) []byte         { return make([]byte, n) }
func hdr(kind wire.Kind) []byte  { return cat(u8(2), topicBytes, u8(byte(kind))) }

// peerBytes is a PeerInfo with n bytes of data.
func peerBytes(n int) []byte { return cat(zeros(32), u16(uint16(n)), zeros(n)) }

func TestDecodeRejects(t *testing.T) {
	cases := []struct {
		name     string
		body     []byte
		sentinel error
		msg      string
	}{
		{"empty", nil, wire.ErrEmptyBody, "wire: frame.type (offset 0): empty body"},
		{"frame type 0", u8(0), wire.ErrUnknownFrameType, "wire: frame.type (offset 0): unknown frame type 0"},
		{"frame type 3", cat(u8(3), zeros(40)), wire.ErrUnknownFrameType, "wire: frame.type (offset 0): unknown frame type 3"},
		{"frame type 255", u8(255), wire.ErrUnknownFrameType, "wire: frame.type (offset 0): unknown frame type 255"},
		{"kind 0", hdr(0), wire.ErrUnknownKind, "wire: message.kind (offset 33): unknown message kind 0"},
		{"kind 11", cat(hdr(11), zeros(8)), wire.ErrUnknownKind, "wire: message.kind (offset 33): unknown message kind 11"},
		{"kind 255", hdr(255), wire.ErrUnknownKind, "wire: message.kind (offset 33): unknown message kind 255"},

		// truncations (every prefix is checked in TestTruncatedPrefixes)
		{"no topic", cat(u8(2), zeros(10)), wire.ErrTruncated, "wire: message.topic (offset 1): truncated: need 32 bytes, 10 left"},
		{"no kind", cat(u8(2), topicBytes), wire.ErrTruncated, "wire: message.kind (offset 33): truncated: need 1 bytes, 0 left"},
		{"hello id", cat(u8(1), u8(1), zeros(31)), wire.ErrTruncated, "wire: hello.id (offset 2): truncated: need 32 bytes, 31 left"},
		{"hello data", cat(u8(1), u8(1), zeros(32), u16(10), zeros(9)), wire.ErrTruncated, "wire: hello.data (offset 34): truncated: length 10, 9 bytes left"},
		{"gossip content", cat(hdr(wire.KindGossip), zeros(32), u8(0), u16(0), u32(100), zeros(99)), wire.ErrTruncated, "wire: gossip.content (offset 69): truncated: length 100, 99 bytes left"},
		{"shuffle count room", cat(hdr(wire.KindShuffle), peerBytes(0), u16(1), u16(2), peerBytes(0), zeros(33)), wire.ErrTruncated, "wire: shuffle.nodes (offset 70): truncated: count 2 needs at least 68 bytes, 67 left"},
		{"ihave count room", cat(hdr(wire.KindIHave), u16(2), zeros(67)), wire.ErrTruncated, "wire: ihave.entries (offset 34): truncated: count 2 needs at least 68 bytes, 67 left"},
		{"graft id", cat(hdr(wire.KindGraft), u8(1), zeros(20)), wire.ErrTruncated, "wire: graft.id (offset 35): truncated: need 32 bytes, 20 left"},
		{"forwardjoin ttl", cat(hdr(wire.KindForwardJoin), peerBytes(3), u8(0)), wire.ErrTruncated, "wire: forwardjoin.ttl (offset 71): truncated: need 2 bytes, 1 left"},

		// trailing bytes (every kind in TestTrailingBytes)
		{"prune trailing", cat(hdr(wire.KindPrune), u8(0)), wire.ErrTrailingBytes, "wire: frame (offset 34): 1 trailing bytes"},
		{"hello trailing", cat(u8(1), u8(1), zeros(32), u16(0), zeros(3)), wire.ErrTrailingBytes, "wire: frame (offset 36): 3 trailing bytes"},

		// over limits, rejected on the length alone
		{"hello data", cat(u8(1), u8(1), zeros(32), u16(513), zeros(513)), wire.ErrOverLimit, "wire: hello.data (offset 34): length 513 exceeds 512"},
		{"join data", cat(hdr(wire.KindJoin), u16(513), zeros(513)), wire.ErrOverLimit, "wire: join.data (offset 34): length 513 exceeds 512"},
		{"join data short", cat(hdr(wire.KindJoin), u16(0xffff)), wire.ErrOverLimit, "wire: join.data (offset 34): length 65535 exceeds 512"},
		{"forwardjoin data", cat(hdr(wire.KindForwardJoin), zeros(32), u16(600), zeros(602)), wire.ErrOverLimit, "wire: forwardjoin.peer.data (offset 66): length 600 exceeds 512"},
		{"neighbor data", cat(hdr(wire.KindNeighbor), u8(1), u16(513), zeros(513)), wire.ErrOverLimit, "wire: neighbor.data (offset 35): length 513 exceeds 512"},
		{"shuffle origin data", cat(hdr(wire.KindShuffle), zeros(32), u16(513), zeros(517)), wire.ErrOverLimit, "wire: shuffle.origin.data (offset 66): length 513 exceeds 512"},
		{"shuffle count", cat(hdr(wire.KindShuffle), peerBytes(0), u16(0), u16(65), zeros(65*34)), wire.ErrOverLimit, "wire: shuffle.nodes (offset 70): count 65 exceeds 64"},
		{"shuffle node data", cat(hdr(wire.KindShuffle), peerBytes(0), u16(0), u16(5), peerBytes(0), peerBytes(0), peerBytes(0), zeros(32), u16(9000), zeros(9000)), wire.ErrOverLimit, "wire: shuffle.nodes[3].data (offset 206): length 9000 exceeds 512"},
		{"shufflereply count", cat(hdr(wire.KindShuffleReply), u16(0xffff)), wire.ErrOverLimit, "wire: shufflereply.nodes (offset 34): count 65535 exceeds 64"},
		{"shufflereply node data", cat(hdr(wire.KindShuffleReply), u16(2), peerBytes(1), zeros(32), u16(513), zeros(513)), wire.ErrOverLimit, "wire: shufflereply.nodes[1].data (offset 103): length 513 exceeds 512"},
		{"gossip content", cat(hdr(wire.KindGossip), zeros(32), u8(0), u16(0), u32(4097), zeros(4097)), wire.ErrOverLimit, "wire: gossip.content (offset 69): length 4097 exceeds 4096"},
		{"gossip content huge", cat(hdr(wire.KindGossip), zeros(32), u8(0), u16(0), u32(0xffffffff)), wire.ErrOverLimit, "wire: gossip.content (offset 69): length 4294967295 exceeds 4096"},
		{"ihave count", cat(hdr(wire.KindIHave), u16(1025), zeros(1025*34)), wire.ErrOverLimit, "wire: ihave.entries (offset 34): count 1025 exceeds 1024"},

		// invalid bools and priority
		{"disconnect alive", cat(hdr(wire.KindDisconnect), u8(2), u8(0)), wire.ErrInvalidValue, "wire: disconnect.alive (offset 34): invalid bool byte 2"},
		{"disconnect respond", cat(hdr(wire.KindDisconnect), u8(1), u8(0xff)), wire.ErrInvalidValue, "wire: disconnect.respond (offset 35): invalid bool byte 255"},
		{"gossip neighbors", cat(hdr(wire.KindGossip), zeros(32), u8(2), u16(0), u32(0)), wire.ErrInvalidValue, "wire: gossip.scope.neighbors (offset 66): invalid bool byte 2"},
		{"graft presence", cat(hdr(wire.KindGraft), u8(2), zeros(34)), wire.ErrInvalidValue, "wire: graft.has_id (offset 34): invalid bool byte 2"},
		{"neighbor priority", cat(hdr(wire.KindNeighbor), u8(2), u16(0)), wire.ErrInvalidValue, "wire: neighbor.priority (offset 34): invalid priority 2"},
		{"neighbor priority 255", cat(hdr(wire.KindNeighbor), u8(255), u16(0)), wire.ErrInvalidValue, "wire: neighbor.priority (offset 34): invalid priority 255"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := wire.Decode(c.body)
			require.Error(t, err)
			assert.Equal(t, wire.Frame{}, f)
			assert.ErrorIs(t, err, c.sentinel)
			var de *wire.DecodeError
			require.ErrorAs(t, err, &de)
			assert.EqualError(t, err, c.msg)
		})
	}
}

// TestDecodeErrorFields: the error's fields, for callers that inspect them.
func TestDecodeErrorFields(t *testing.T) {
	body := cat(hdr(wire.KindShuffle), peerBytes(0), u16(0), u16(5), peerBytes(0), peerBytes(0), peerBytes(0), zeros(32), u16(9000), zeros(9000))
	_, err := wire.Decode(body)
	var de *wire.DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "shuffle.nodes[3].data", de.Field)
	assert.Equal(t, 206, de.Offset)
	assert.Same(t, wire.ErrOverLimit, de.Err)
	assert.Equal(t, "length 9000 exceeds 512", de.Detail)
	assert.Equal(t, byte(0x23), body[de.Offset], "the offset points at the length (9000 = 0x2328)")
}

// allBodies are the encodings of every sample and hello.
func allBodies(t testing.TB) [][]byte {
	var out [][]byte
	for _, s := range samples() {
		out = append(out, encode(t, s.msg))
	}
	for _, h := range hellos() {
		b, err := wire.AppendHello(nil, h)
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

// TestTruncatedPrefixes: every strict, non-empty prefix of a valid body is
// rejected as truncated.
func TestTruncatedPrefixes(t *testing.T) {
	for _, b := range allBodies(t) {
		for n := 1; n < len(b); n++ {
			_, err := wire.Decode(b[:n])
			if !errors.Is(err, wire.ErrTruncated) {
				t.Fatalf("prefix %d of %x: got %v, want ErrTruncated", n, b[:min(len(b), 48)], err)
			}
		}
	}
}

// TestTrailingBytes: a valid body with anything after it is rejected.
func TestTrailingBytes(t *testing.T) {
	for _, b := range allBodies(t) {
		for _, extra := range [][]byte{{0}, {1}, {0xff, 0xff}, bytes.Clone(b)} {
			_, err := wire.Decode(cat(b, extra))
			require.ErrorIs(t, err, wire.ErrTrailingBytes)
			var de *wire.DecodeError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, len(b), de.Offset)
		}
	}
}

func TestKindString(t *testing.T) {
	assert.Equal(t, "shufflereply", wire.KindShuffleReply.String())
	assert.Equal(t, "prune", wire.KindPrune.String())
	assert.Equal(t, "Kind(0)", wire.Kind(0).String())
	assert.Equal(t, "Kind(200)", wire.Kind(200).String())
}
