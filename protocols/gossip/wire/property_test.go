package wire_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/detsim/detsim/protocols/gossip/proto"
	"github.com/detsim/detsim/protocols/gossip/wire"
	"pgregory.net/rapid"
)

// --- generators: values within the limits, nil for every empty slice ---

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// genLen is a length or count up to limit: often small, sometimes anywhere
// in range, sometimes exactly the limit.
func genLen(limit int) *rapid.Generator[int] {
	return rapid.OneOf(rapid.IntRange(0, min(8, limit)), rapid.IntRange(0, limit), rapid.Just(limit))
}

// sliceOf draws a slice of elem of genLen(limit) elements, nil if empty.
func sliceOf[E any](elem *rapid.Generator[E], limit int) *rapid.Generator[[]E] {
	return rapid.Custom(func(t *rapid.T) []E {
		n := genLen(limit).Draw(t, "len")
		return nilIfEmpty(rapid.SliceOfN(elem, n, n).Draw(t, "elems"))
	})
}

func genBytes(limit int) *rapid.Generator[[]byte] { return sliceOf(rapid.Byte(), limit) }

func genID() *rapid.Generator[[32]byte] {
	return rapid.Custom(func(t *rapid.T) (a [32]byte) {
		// Mostly small distinct-looking ids, sometimes all 32 bytes drawn.
		if rapid.Bool().Draw(t, "full") {
			copy(a[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "bytes"))
		} else {
			a[0] = rapid.Byte().Draw(t, "b0")
			a[31] = rapid.Byte().Draw(t, "b31")
		}
		return a
	})
}

func genPeer() *rapid.Generator[proto.PeerInfo] {
	return rapid.Custom(func(t *rapid.T) proto.PeerInfo {
		return proto.PeerInfo{ID: genID().Draw(t, "id"), Data: genBytes(wire.MaxPeerDataSize).Draw(t, "data")}
	})
}

func genPeers() *rapid.Generator[[]proto.PeerInfo] {
	return sliceOf(genPeer(), wire.MaxShuffleNodes)
}

func body[B proto.Body](fn func(*rapid.T) B) *rapid.Generator[proto.Body] {
	return rapid.Custom(func(t *rapid.T) proto.Body { return fn(t) })
}

func genBody() *rapid.Generator[proto.Body] {
	u16 := rapid.Uint16()
	return rapid.OneOf(
		body(func(t *rapid.T) proto.Join {
			return proto.Join{Data: genBytes(wire.MaxPeerDataSize).Draw(t, "data")}
		}),
		body(func(t *rapid.T) proto.ForwardJoin {
			return proto.ForwardJoin{Peer: genPeer().Draw(t, "peer"), TTL: u16.Draw(t, "ttl")}
		}),
		body(func(t *rapid.T) proto.Neighbor {
			return proto.Neighbor{
				Priority: rapid.SampledFrom([]proto.Priority{proto.PriorityLow, proto.PriorityHigh}).Draw(t, "priority"),
				Data:     genBytes(wire.MaxPeerDataSize).Draw(t, "data"),
			}
		}),
		body(func(t *rapid.T) proto.Shuffle {
			return proto.Shuffle{Origin: genPeer().Draw(t, "origin"), Nodes: genPeers().Draw(t, "nodes"), TTL: u16.Draw(t, "ttl")}
		}),
		body(func(t *rapid.T) proto.ShuffleReply {
			return proto.ShuffleReply{Nodes: genPeers().Draw(t, "nodes")}
		}),
		body(func(t *rapid.T) proto.Disconnect {
			return proto.Disconnect{Alive: rapid.Bool().Draw(t, "alive"), Respond: rapid.Bool().Draw(t, "respond")}
		}),
		body(func(t *rapid.T) proto.Gossip {
			return proto.Gossip{
				ID:      genID().Draw(t, "id"),
				Content: genBytes(wire.MaxContentSize).Draw(t, "content"),
				Scope:   proto.DeliveryScope{Neighbors: rapid.Bool().Draw(t, "neighbors"), Round: u16.Draw(t, "round")},
			}
		}),
		body(func(t *rapid.T) proto.IHave {
			e := rapid.Custom(func(t *rapid.T) proto.IHaveEntry {
				return proto.IHaveEntry{ID: genID().Draw(t, "id"), Round: u16.Draw(t, "round")}
			})
			return proto.IHave{Entries: sliceOf(e, wire.MaxIHaveEntries).Draw(t, "entries")}
		}),
		body(func(t *rapid.T) proto.Graft {
			g := proto.Graft{Round: u16.Draw(t, "round")}
			if rapid.Bool().Draw(t, "has_id") {
				id := proto.MessageID(genID().Draw(t, "id"))
				g.ID = &id
			}
			return g
		}),
		rapid.Just[proto.Body](proto.Prune{}),
	)
}

func genMessage() *rapid.Generator[proto.Message] {
	return rapid.Custom(func(t *rapid.T) proto.Message {
		return proto.Message{Topic: genID().Draw(t, "topic"), Body: genBody().Draw(t, "body")}
	})
}

func genHello() *rapid.Generator[wire.Hello] {
	return rapid.Custom(func(t *rapid.T) wire.Hello {
		return wire.Hello{
			Version: rapid.Uint8().Draw(t, "version"),
			ID:      genID().Draw(t, "id"),
			Data:    genBytes(wire.MaxPeerDataSize).Draw(t, "data"),
		}
	})
}

// TestRoundTripProperty: every message within the limits encodes, fits a
// frame, decodes to itself, and re-encodes to the same bytes.
func TestRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genMessage().Draw(t, "msg")
		b, err := wire.AppendMessage(nil, m)
		if err != nil {
			t.Fatalf("encode %+v: %v", m, err)
		}
		if len(b) > wire.MaxBodySize {
			t.Fatalf("%d bytes > MaxBodySize", len(b))
		}
		f, err := wire.Decode(b)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if f.Hello != nil || f.Msg == nil || !reflect.DeepEqual(m, *f.Msg) {
			t.Fatalf("round trip: got %+v, want %+v", f, m)
		}
		again, err := wire.AppendMessage(nil, *f.Msg)
		if err != nil || !bytes.Equal(b, again) {
			t.Fatalf("re-encode differs: %v", err)
		}
	})
}

func TestHelloRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := genHello().Draw(t, "hello")
		b, err := wire.AppendHello(nil, h)
		if err != nil {
			t.Fatal(err)
		}
		f, err := wire.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if f.Msg != nil || f.Hello == nil || !reflect.DeepEqual(h, *f.Hello) {
			t.Fatalf("round trip: got %+v, want %+v", f, h)
		}
	})
}

// TestStreamProperty: a connection's worth of frames (a Hello, then
// messages) written with WriteFrame reads back through a FrameReader, in
// whatever pieces the reader delivers.
func TestStreamProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := genHello().Draw(t, "hello")
		msgs := rapid.SliceOfN(genMessage(), 0, 8).Draw(t, "msgs")
		var stream bytes.Buffer
		b, _ := wire.AppendHello(nil, h)
		if err := wire.WriteFrame(&stream, b); err != nil {
			t.Fatal(err)
		}
		var scratch []byte
		for _, m := range msgs {
			var err error
			if scratch, err = wire.AppendMessage(scratch[:0], m); err != nil {
				t.Fatal(err)
			}
			if err := wire.WriteFrame(&stream, scratch); err != nil {
				t.Fatal(err)
			}
		}
		var r io.Reader = &stream
		switch rapid.IntRange(0, 2).Draw(t, "reader") {
		case 1:
			r = iotest.OneByteReader(r)
		case 2:
			r = iotest.HalfReader(r)
		}
		fr := wire.NewFrameReader(r, 0)
		next := func() wire.Frame {
			body, err := fr.Next()
			if err != nil {
				t.Fatal(err)
			}
			f, err := wire.Decode(body)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
		if f := next(); f.Hello == nil || !reflect.DeepEqual(h, *f.Hello) {
			t.Fatalf("hello: got %+v, want %+v", f, h)
		}
		var got []proto.Message
		for range msgs {
			f := next()
			if f.Msg == nil {
				t.Fatalf("got %+v, want a message", f)
			}
			got = append(got, *f.Msg) // survives the reader reusing its buffer
		}
		if !reflect.DeepEqual(nilIfEmpty(msgs), got) {
			t.Fatalf("messages: got %+v, want %+v", got, msgs)
		}
		if _, err := fr.Next(); err != io.EOF {
			t.Fatalf("after the last frame: %v, want io.EOF", err)
		}
	})
}

// --- fuzzing ---

func reencode(f wire.Frame) ([]byte, error) {
	if f.Hello != nil {
		return wire.AppendHello(nil, *f.Hello)
	}
	return wire.AppendMessage(nil, *f.Msg)
}

// FuzzDecode: Decode never panics, every error is a *DecodeError, and
// whatever it accepts re-encodes to the very same bytes (the encoding is
// canonical) and does not alias its input.
func FuzzDecode(f *testing.F) {
	for _, b := range allBodies(f) {
		if len(b) > 2048 {
			// Every kind has smaller samples too; large seeds make the
			// fuzzer's minimisation of new inputs stall for a minute.
			continue
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(append(bytes.Clone(b), 0))
	}
	for _, g := range [][]byte{
		{}, {0}, {1}, {2}, {3}, {0xff},
		bytes.Repeat([]byte{0xff}, 40),
		bytes.Repeat([]byte{2}, 80),
		cat(hdr(wire.KindShuffle), bytes.Repeat([]byte{0xff}, 100)),
		cat(hdr(wire.KindIHave), u16(0xffff)),
		cat(hdr(wire.KindGossip), zeros(35), u32(0xffffffff)),
		cat(hdr(wire.KindGraft), u8(2)),
		cat(hdr(wire.KindNeighbor), u8(7), u16(0)),
		cat(hdr(11)),
	} {
		f.Add(g)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		fr, err := wire.Decode(in)
		if err != nil {
			var de *wire.DecodeError
			if !errors.As(err, &de) || de.Err == nil || de.Offset < 0 || de.Offset > len(in) {
				t.Fatalf("error %v (%T) is not a well-formed *DecodeError", err, err)
			}
			if fr != (wire.Frame{}) {
				t.Fatalf("error %v with a frame %+v", err, fr)
			}
			return
		}
		if (fr.Hello == nil) == (fr.Msg == nil) {
			t.Fatalf("want exactly one of Hello and Msg: %+v", fr)
		}
		for i := range in {
			in[i] ^= 0xff // decoded values must not alias in
		}
		out, err := reencode(fr)
		if err != nil {
			t.Fatalf("accepted %x but cannot re-encode it: %v", orig, err)
		}
		if !bytes.Equal(orig, out) {
			t.Fatalf("not canonical:\n in  %x\n out %x", orig, out)
		}
	})
}

// FuzzFrameReader: whatever the stream, FrameReader returns frames that
// re-frame to a prefix of it, and ends with io.EOF exactly at a frame
// boundary at the end, io.ErrUnexpectedEOF inside a frame, or
// ErrFrameTooLarge right after an oversized prefix.
func FuzzFrameReader(f *testing.F) {
	var small [][]byte
	for _, b := range allBodies(f) {
		if len(b) <= 2048 {
			small = append(small, b)
		}
	}
	f.Add(frameStream(f, small), uint16(0), false)
	f.Add(frameStream(f, small[:3]), uint16(100), true)
	f.Add(frameStream(f, [][]byte{{}, {1}, {2, 3}}), uint16(2), true)
	f.Add([]byte{0, 0, 0}, uint16(0), false)
	f.Add([]byte{0, 0, 0, 5, 1, 2}, uint16(0), true)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint16(0), false)
	f.Add([]byte{}, uint16(0), false)
	f.Fuzz(func(t *testing.T, in []byte, max uint16, oneByte bool) {
		var r io.Reader = bytes.NewReader(in)
		if oneByte {
			r = iotest.OneByteReader(r)
		}
		limit := int(max)
		if limit == 0 {
			limit = wire.MaxFrameSize
		}
		fr := wire.NewFrameReader(r, int(max))
		var out bytes.Buffer
		var err error
		for {
			var body []byte
			if body, err = fr.Next(); err != nil {
				break
			}
			if len(body) > limit {
				t.Fatalf("body of %d bytes over the limit %d", len(body), limit)
			}
			if werr := wire.WriteFrame(&out, body); werr != nil {
				t.Fatal(werr)
			}
			_, _ = wire.Decode(body) // must not panic
		}
		consumed := out.Bytes()
		if !bytes.HasPrefix(in, consumed) {
			t.Fatalf("frames read do not re-frame to a prefix of the input")
		}
		rest := in[len(consumed):]
		switch {
		case err == io.EOF:
			if len(rest) != 0 {
				t.Fatalf("io.EOF with %d bytes unread", len(rest))
			}
		case err == io.ErrUnexpectedEOF:
			if len(rest) == 0 {
				t.Fatalf("io.ErrUnexpectedEOF at a frame boundary")
			}
			if len(rest) >= 4 && int(uint32(rest[0])<<24|uint32(rest[1])<<16|uint32(rest[2])<<8|uint32(rest[3])) <= len(rest)-4 {
				t.Fatalf("io.ErrUnexpectedEOF on a whole frame")
			}
		case errors.Is(err, wire.ErrFrameTooLarge):
			if len(rest) < 4 {
				t.Fatalf("ErrFrameTooLarge without a whole prefix")
			}
			if n := uint64(rest[0])<<24 | uint64(rest[1])<<16 | uint64(rest[2])<<8 | uint64(rest[3]); n <= uint64(limit) {
				t.Fatalf("ErrFrameTooLarge for a prefix of %d <= %d", n, limit)
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
		if _, again := fr.Next(); again != err {
			t.Fatalf("error not sticky: %v then %v", err, again)
		}
	})
}
