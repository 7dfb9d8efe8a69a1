package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/detsim/detsim/protocols/gossip/proto"
)

// Version is the protocol version this package speaks, for Hello.Version.
const Version uint8 = 1

// Limits (see the package documentation).
const (
	// MaxPeerDataSize bounds every peer data: Hello.Data, Join.Data,
	// Neighbor.Data and PeerInfo.Data.
	MaxPeerDataSize = 512
	// MaxContentSize bounds Gossip.Content; it matches proto's default
	// MaxMessageSize.
	MaxContentSize = 4096
	// MaxShuffleNodes bounds Shuffle.Nodes and ShuffleReply.Nodes.
	MaxShuffleNodes = 64
	// MaxIHaveEntries bounds IHave.Entries.
	MaxIHaveEntries = 1024
	// MaxFrameSize bounds a frame body. The largest valid body is
	// MaxBodySize (a full Shuffle); the rest is headroom.
	MaxFrameSize = 64 << 10
	// HeaderSize is the size of a frame's length prefix.
	HeaderSize = 4
)

// Sizes of the fixed parts, and the largest body of each frame.
const (
	idSize        = 32
	msgHeaderSize = 1 + idSize + 1               // type, topic, kind
	maxPeerInfo   = idSize + 2 + MaxPeerDataSize // id, data_len, data
	minPeerInfo   = idSize + 2                   // id, data_len
	ihaveEntry    = idSize + 2                   // id, round
	maxHelloSize  = 1 + 1 + idSize + 2 + MaxPeerDataSize
	maxGossipSize = msgHeaderSize + idSize + 1 + 2 + 4 + MaxContentSize
	maxIHaveSize  = msgHeaderSize + 2 + MaxIHaveEntries*ihaveEntry
	maxShuffle    = msgHeaderSize + maxPeerInfo + 2 + 2 + MaxShuffleNodes*maxPeerInfo

	// MaxBodySize is the largest body any valid frame has (a Shuffle
	// with MaxShuffleNodes nodes, every peer data of MaxPeerDataSize).
	MaxBodySize = maxShuffle
)

// Every valid body fits in a frame (a compile error otherwise).
const (
	_ uint = MaxFrameSize - MaxBodySize
	_ uint = MaxBodySize - maxHelloSize
	_ uint = MaxBodySize - maxGossipSize
	_ uint = MaxBodySize - maxIHaveSize
)

// FrameType is the first byte of a frame body.
type FrameType uint8

const (
	FrameHello   FrameType = 1
	FrameMessage FrameType = 2
)

// Kind is the message kind, the byte after a Message frame's topic.
type Kind uint8

const (
	KindJoin         Kind = 1
	KindForwardJoin  Kind = 2
	KindNeighbor     Kind = 3
	KindShuffle      Kind = 4
	KindShuffleReply Kind = 5
	KindDisconnect   Kind = 6
	KindGossip       Kind = 7
	KindIHave        Kind = 8
	KindGraft        Kind = 9
	KindPrune        Kind = 10
)

var kindNames = [...]string{
	KindJoin:         "join",
	KindForwardJoin:  "forwardjoin",
	KindNeighbor:     "neighbor",
	KindShuffle:      "shuffle",
	KindShuffleReply: "shufflereply",
	KindDisconnect:   "disconnect",
	KindGossip:       "gossip",
	KindIHave:        "ihave",
	KindGraft:        "graft",
	KindPrune:        "prune",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Hello is the first frame on every connection, from both sides.
type Hello struct {
	Version uint8
	ID      proto.PeerID
	Data    []byte
}

// Frame is a decoded frame body: exactly one of Hello and Msg is set.
type Frame struct {
	Hello *Hello
	Msg   *proto.Message
}

var (
	// ErrFrameTooLarge: a frame's length is over the limit.
	ErrFrameTooLarge = errors.New("wire: frame too large")

	// ErrEmptyBody: a frame body with no bytes.
	ErrEmptyBody = errors.New("wire: empty frame body")
	// ErrUnknownFrameType: a frame type other than Hello and Message.
	ErrUnknownFrameType = errors.New("wire: unknown frame type")
	// ErrUnknownKind: a message kind this package does not know.
	ErrUnknownKind = errors.New("wire: unknown message kind")
	// ErrTruncated: a field runs past the end of the body.
	ErrTruncated = errors.New("wire: truncated")
	// ErrTrailingBytes: bytes after the last field.
	ErrTrailingBytes = errors.New("wire: trailing bytes")
	// ErrOverLimit: a length or count over its limit (decoding and
	// encoding).
	ErrOverLimit = errors.New("wire: over limit")
	// ErrInvalidValue: a bool, presence byte or priority out of range
	// (decoding and encoding).
	ErrInvalidValue = errors.New("wire: invalid value")

	// ErrNilBody: encoding a message without a body.
	ErrNilBody = errors.New("wire: nil message body")
	// ErrUnknownBody: encoding a body type this package does not know
	// (bodies are passed by value: proto.Join, not *proto.Join).
	ErrUnknownBody = errors.New("wire: unknown message body type")
)

// DecodeError is a malformed frame body: which field, where, and why.
// Err is one of the Err* sentinels.
type DecodeError struct {
	Field  string // e.g. "shuffle.nodes[3].data"
	Offset int    // of the field in the body
	Err    error
	Detail string // e.g. "length 9000 exceeds 512"
}

func (e *DecodeError) Error() string {
	return "wire: " + e.Field + " (offset " + strconv.Itoa(e.Offset) + "): " + e.Detail
}

func (e *DecodeError) Unwrap() error { return e.Err }

// EncodeError is a value that cannot be encoded. Err is one of the Err*
// sentinels.
type EncodeError struct {
	Field  string
	Err    error
	Detail string
}

func (e *EncodeError) Error() string {
	return "wire: cannot encode " + e.Field + ": " + e.Detail
}

func (e *EncodeError) Unwrap() error { return e.Err }

// field names a field for errors, built only when one is reported:
// base, then [idx] if idx >= 0, then .leaf if leaf is set.
type field struct {
	base string
	idx  int
	leaf string
}

func name(base string) field { return field{base: base, idx: -1} }

func (f field) String() string {
	s := f.base
	if f.idx >= 0 {
		s += "[" + strconv.Itoa(f.idx) + "]"
	}
	if f.leaf != "" {
		s += "." + f.leaf
	}
	return s
}

// sub names a member of f (f has no leaf yet).
func (f field) sub(leaf string) field {
	f.leaf = leaf
	return f
}

func (f field) at(i int) field {
	return field{base: f.String(), idx: i}
}

// --- Encoding ---

// AppendHello appends h's frame body to b. On error it returns b as it
// was.
func AppendHello(b []byte, h Hello) ([]byte, error) {
	orig := b
	b = append(b, byte(FrameHello), h.Version)
	b = append(b, h.ID[:]...)
	b, err := appendData(b, h.Data, name("hello.data"))
	if err != nil {
		return orig, err
	}
	return b, nil
}

// AppendMessage appends m's frame body to b. On error (a nil or unknown
// body, a value over a limit, an invalid priority) it returns b as it was.
func AppendMessage(b []byte, m proto.Message) ([]byte, error) {
	orig := b
	b, err := appendMessage(b, m)
	if err != nil {
		return orig, err
	}
	return b, nil
}

func appendMessage(b []byte, m proto.Message) ([]byte, error) {
	if m.Body == nil {
		return b, &EncodeError{Field: "message.body", Err: ErrNilBody, Detail: "nil body"}
	}
	b = append(b, byte(FrameMessage))
	b = append(b, m.Topic[:]...)
	var err error
	switch body := m.Body.(type) {
	case proto.Join:
		b = append(b, byte(KindJoin))
		b, err = appendData(b, body.Data, name("join.data"))
	case proto.ForwardJoin:
		b = append(b, byte(KindForwardJoin))
		b, err = appendPeer(b, body.Peer, name("forwardjoin.peer"))
		b = binary.BigEndian.AppendUint16(b, body.TTL)
	case proto.Neighbor:
		if body.Priority > proto.PriorityHigh {
			return b, &EncodeError{Field: "neighbor.priority", Err: ErrInvalidValue,
				Detail: "invalid priority " + strconv.Itoa(int(body.Priority))}
		}
		b = append(b, byte(KindNeighbor), byte(body.Priority))
		b, err = appendData(b, body.Data, name("neighbor.data"))
	case proto.Shuffle:
		b = append(b, byte(KindShuffle))
		if b, err = appendPeer(b, body.Origin, name("shuffle.origin")); err != nil {
			return b, err
		}
		b = binary.BigEndian.AppendUint16(b, body.TTL)
		b, err = appendPeers(b, body.Nodes, name("shuffle.nodes"))
	case proto.ShuffleReply:
		b = append(b, byte(KindShuffleReply))
		b, err = appendPeers(b, body.Nodes, name("shufflereply.nodes"))
	case proto.Disconnect:
		b = append(b, byte(KindDisconnect), boolByte(body.Alive), boolByte(body.Respond))
	case proto.Gossip:
		if len(body.Content) > MaxContentSize {
			return b, overLimitEnc(name("gossip.content"), "length", len(body.Content), MaxContentSize)
		}
		b = append(b, byte(KindGossip))
		b = append(b, body.ID[:]...)
		b = append(b, boolByte(body.Scope.Neighbors))
		b = binary.BigEndian.AppendUint16(b, body.Scope.Round)
		b = binary.BigEndian.AppendUint32(b, uint32(len(body.Content)))
		b = append(b, body.Content...)
	case proto.IHave:
		if len(body.Entries) > MaxIHaveEntries {
			return b, overLimitEnc(name("ihave.entries"), "count", len(body.Entries), MaxIHaveEntries)
		}
		b = append(b, byte(KindIHave))
		b = binary.BigEndian.AppendUint16(b, uint16(len(body.Entries)))
		for _, e := range body.Entries {
			b = append(b, e.ID[:]...)
			b = binary.BigEndian.AppendUint16(b, e.Round)
		}
	case proto.Graft:
		b = append(b, byte(KindGraft))
		if body.ID != nil {
			b = append(b, 1)
			b = append(b, body.ID[:]...)
		} else {
			b = append(b, 0)
		}
		b = binary.BigEndian.AppendUint16(b, body.Round)
	case proto.Prune:
		b = append(b, byte(KindPrune))
	default:
		return b, &EncodeError{Field: "message.body", Err: ErrUnknownBody,
			Detail: fmt.Sprintf("unknown body type %T", m.Body)}
	}
	return b, err
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func overLimitEnc(f field, what string, n, limit int) error {
	return &EncodeError{Field: f.String(), Err: ErrOverLimit,
		Detail: what + " " + strconv.Itoa(n) + " exceeds " + strconv.Itoa(limit)}
}

func appendData(b, data []byte, f field) ([]byte, error) {
	if len(data) > MaxPeerDataSize {
		return b, overLimitEnc(f, "length", len(data), MaxPeerDataSize)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...), nil
}

func appendPeer(b []byte, p proto.PeerInfo, f field) ([]byte, error) {
	b = append(b, p.ID[:]...)
	return appendData(b, p.Data, f.sub("data"))
}

func appendPeers(b []byte, ps []proto.PeerInfo, f field) ([]byte, error) {
	if len(ps) > MaxShuffleNodes {
		return b, overLimitEnc(f, "count", len(ps), MaxShuffleNodes)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(ps)))
	for i, p := range ps {
		var err error
		if b, err = appendPeer(b, p, f.at(i)); err != nil {
			return b, err
		}
	}
	return b, nil
}

// --- Decoding ---

// Decode decodes one frame body (without its length prefix). The result
// does not alias body. Errors are *DecodeError.
func Decode(body []byte) (Frame, error) {
	if len(body) == 0 {
		return Frame{}, &DecodeError{Field: "frame.type", Offset: 0, Err: ErrEmptyBody, Detail: "empty body"}
	}
	d := decoder{b: body}
	switch t := FrameType(d.u8(name("frame.type"))); t {
	case FrameHello:
		h := &Hello{Version: d.u8(name("hello.version"))}
		h.ID = d.id(name("hello.id"))
		h.Data = d.data(name("hello.data"))
		if err := d.finish(); err != nil {
			return Frame{}, err
		}
		return Frame{Hello: h}, nil
	case FrameMessage:
		m := d.message()
		if err := d.finish(); err != nil {
			return Frame{}, err
		}
		return Frame{Msg: m}, nil
	default:
		return Frame{}, &DecodeError{Field: "frame.type", Offset: 0, Err: ErrUnknownFrameType,
			Detail: "unknown frame type " + strconv.Itoa(int(t))}
	}
}

// decoder reads fields from a body, keeping the first error; after an
// error every read returns a zero value.
type decoder struct {
	b   []byte
	off int
	err *DecodeError
}

func (d *decoder) fail(f field, off int, sentinel error, detail string) {
	if d.err == nil {
		d.err = &DecodeError{Field: f.String(), Offset: off, Err: sentinel, Detail: detail}
	}
}

// need reports whether k more bytes are there, failing with ErrTruncated
// at the current offset if not.
func (d *decoder) need(k int, f field) bool {
	if d.err != nil {
		return false
	}
	if left := len(d.b) - d.off; k > left {
		d.fail(f, d.off, ErrTruncated,
			"truncated: need "+strconv.Itoa(k)+" bytes, "+strconv.Itoa(left)+" left")
		return false
	}
	return true
}

func (d *decoder) finish() error {
	if d.err != nil {
		return d.err
	}
	if d.off != len(d.b) {
		return &DecodeError{Field: "frame", Offset: d.off, Err: ErrTrailingBytes,
			Detail: strconv.Itoa(len(d.b)-d.off) + " trailing bytes"}
	}
	return nil
}

func (d *decoder) u8(f field) uint8 {
	if !d.need(1, f) {
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *decoder) u16(f field) uint16 {
	if !d.need(2, f) {
		return 0
	}
	v := binary.BigEndian.Uint16(d.b[d.off:])
	d.off += 2
	return v
}

func (d *decoder) u32(f field) uint32 {
	if !d.need(4, f) {
		return 0
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

func (d *decoder) bool(f field) bool {
	off := d.off
	switch v := d.u8(f); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail(f, off, ErrInvalidValue, "invalid bool byte "+strconv.Itoa(int(v)))
		return false
	}
}

func (d *decoder) id(f field) [idSize]byte {
	var v [idSize]byte
	if d.need(idSize, f) {
		copy(v[:], d.b[d.off:])
		d.off += idSize
	}
	return v
}

// bytes reads n bytes into a fresh slice, nil if n is 0.
func (d *decoder) bytes(n int, f field, off int) []byte {
	if d.err != nil {
		return nil
	}
	if left := len(d.b) - d.off; n > left {
		d.fail(f, off, ErrTruncated,
			"truncated: length "+strconv.Itoa(n)+", "+strconv.Itoa(left)+" bytes left")
		return nil
	}
	if n == 0 {
		return nil
	}
	v := make([]byte, n)
	copy(v, d.b[d.off:])
	d.off += n
	return v
}

// length reads a length or count (a u16, or a u32 if wide) and checks it
// against limit. It returns -1 after an error.
func (d *decoder) length(f field, what string, wide bool, limit int) (n, off int) {
	off = d.off
	var v uint64
	if wide {
		v = uint64(d.u32(f))
	} else {
		v = uint64(d.u16(f))
	}
	if d.err != nil {
		return -1, off
	}
	if v > uint64(limit) {
		d.fail(f, off, ErrOverLimit,
			what+" "+strconv.FormatUint(v, 10)+" exceeds "+strconv.Itoa(limit))
		return -1, off
	}
	return int(v), off
}

// data reads a peer data: u16 length, then bytes.
func (d *decoder) data(f field) []byte {
	n, off := d.length(f, "length", false, MaxPeerDataSize)
	if n < 0 {
		return nil
	}
	return d.bytes(n, f, off)
}

func (d *decoder) peer(f field) proto.PeerInfo {
	return proto.PeerInfo{ID: d.id(f.sub("id")), Data: d.data(f.sub("data"))}
}

// count reads a list count (u16) within limit, and checks that the body
// has room for that many entries of at least minEntry bytes before the
// caller allocates them. It returns -1 after an error.
func (d *decoder) count(f field, limit, minEntry int) int {
	n, off := d.length(f, "count", false, limit)
	if n < 0 {
		return -1
	}
	if left := len(d.b) - d.off; n*minEntry > left {
		d.fail(f, off, ErrTruncated,
			"truncated: count "+strconv.Itoa(n)+" needs at least "+strconv.Itoa(n*minEntry)+
				" bytes, "+strconv.Itoa(left)+" left")
		return -1
	}
	return n
}

func (d *decoder) peers(f field) []proto.PeerInfo {
	n := d.count(f, MaxShuffleNodes, minPeerInfo)
	if n <= 0 {
		return nil
	}
	ps := make([]proto.PeerInfo, n)
	for i := range ps {
		ps[i] = d.peer(f.at(i))
	}
	return ps
}

func (d *decoder) message() *proto.Message {
	m := &proto.Message{Topic: d.id(name("message.topic"))}
	kindOff := d.off
	k := Kind(d.u8(name("message.kind")))
	if d.err != nil {
		return nil
	}
	switch k {
	case KindJoin:
		m.Body = proto.Join{Data: d.data(name("join.data"))}
	case KindForwardJoin:
		fj := proto.ForwardJoin{Peer: d.peer(name("forwardjoin.peer"))}
		fj.TTL = d.u16(name("forwardjoin.ttl"))
		m.Body = fj
	case KindNeighbor:
		f := name("neighbor.priority")
		off := d.off
		p := proto.Priority(d.u8(f))
		if p > proto.PriorityHigh {
			d.fail(f, off, ErrInvalidValue, "invalid priority "+strconv.Itoa(int(p)))
		}
		m.Body = proto.Neighbor{Priority: p, Data: d.data(name("neighbor.data"))}
	case KindShuffle:
		s := proto.Shuffle{Origin: d.peer(name("shuffle.origin"))}
		s.TTL = d.u16(name("shuffle.ttl"))
		s.Nodes = d.peers(name("shuffle.nodes"))
		m.Body = s
	case KindShuffleReply:
		m.Body = proto.ShuffleReply{Nodes: d.peers(name("shufflereply.nodes"))}
	case KindDisconnect:
		dc := proto.Disconnect{Alive: d.bool(name("disconnect.alive"))}
		dc.Respond = d.bool(name("disconnect.respond"))
		m.Body = dc
	case KindGossip:
		g := proto.Gossip{ID: d.id(name("gossip.id"))}
		g.Scope.Neighbors = d.bool(name("gossip.scope.neighbors"))
		g.Scope.Round = d.u16(name("gossip.scope.round"))
		f := name("gossip.content")
		if n, off := d.length(f, "length", true, MaxContentSize); n >= 0 {
			g.Content = d.bytes(n, f, off)
		}
		m.Body = g
	case KindIHave:
		f := name("ihave.entries")
		var ih proto.IHave
		if n := d.count(f, MaxIHaveEntries, ihaveEntry); n > 0 {
			ih.Entries = make([]proto.IHaveEntry, n)
			for i := range ih.Entries {
				e := &ih.Entries[i]
				e.ID = d.id(f.at(i).sub("id"))
				e.Round = d.u16(f.at(i).sub("round"))
			}
		}
		m.Body = ih
	case KindGraft:
		var g proto.Graft
		if d.bool(name("graft.has_id")) {
			id := proto.MessageID(d.id(name("graft.id")))
			g.ID = &id
		}
		g.Round = d.u16(name("graft.round"))
		m.Body = g
	case KindPrune:
		m.Body = proto.Prune{}
	default:
		d.fail(name("message.kind"), kindOff, ErrUnknownKind,
			"unknown message kind "+strconv.Itoa(int(k)))
		return nil
	}
	return m
}
