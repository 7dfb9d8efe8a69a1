// Package wire is the binary encoding of the gossip protocol
// (protocols/gossip/proto) on a stream connection: length-prefixed frames,
// each a Hello or a proto.Message.
//
// # Framing
//
// A connection is a sequence of frames:
//
//	length  uint32   big-endian, the number of body bytes that follow
//	body    [length]byte
//
// The length is at most MaxFrameSize (FrameReader's max); a larger prefix
// is rejected before the body is read. WriteFrame writes a whole frame
// with one Write call. The first frame each side sends is a Hello.
//
// # Encoding
//
// Every integer is big-endian and of fixed width; there are no varints.
// Byte strings and lists carry a fixed-width length or count in front.
// A bool is one byte, 0 or 1, nothing else. Ids (PeerID, TopicID,
// MessageID) are their 32 raw bytes. Sizes are in bytes.
//
// The first byte of a body is its frame type:
//
//	Hello (type 1), 548 bytes at most
//	  type      u8     1
//	  version   u8     the sender's protocol version (Version)
//	  id        [32]   the sender's PeerID
//	  data_len  u16    <= MaxPeerDataSize
//	  data      [data_len]  the sender's peer data
//
//	Message (type 2)
//	  type      u8     2
//	  topic     [32]   TopicID
//	  kind      u8     the body's kind, below
//	  ...              the body's fields, below
//
// A PeerInfo (peer below) is
//
//	id        [32]   PeerID
//	data_len  u16    <= MaxPeerDataSize
//	data      [data_len]
//
// so 34 to 546 bytes. The message bodies, after the 34-byte message
// header (type, topic, kind); the last column is the whole body's size
// at most:
//
//	kind  body          fields                                      max
//	 1    Join          data_len u16 (<= 512), data                  548
//	 2    ForwardJoin   peer, ttl u16                                582
//	 3    Neighbor      priority u8 (0 low, 1 high),                 549
//	                    data_len u16 (<= 512), data
//	 4    Shuffle       origin peer, ttl u16,                      35528
//	                    count u16 (<= MaxShuffleNodes), count × peer
//	 5    ShuffleReply  count u16 (<= MaxShuffleNodes), count × peer 34980
//	 6    Disconnect    alive bool, respond bool                      36
//	 7    Gossip        id [32] (MessageID), scope.neighbors bool,  4169
//	                    scope.round u16,
//	                    content_len u32 (<= MaxContentSize), content
//	 8    IHave         count u16 (<= MaxIHaveEntries),            34852
//	                    count × (id [32], round u16)
//	 9    Graft         has_id bool, id [32] only if has_id = 1,      69
//	                    round u16
//	10    Prune         (nothing)                                     34
//
// # Limits
//
//	MaxPeerDataSize   512   Hello.Data, Join.Data, Neighbor.Data, PeerInfo.Data
//	MaxContentSize   4096   Gossip.Content (proto's default MaxMessageSize)
//	MaxShuffleNodes    64   Shuffle.Nodes, ShuffleReply.Nodes
//	MaxIHaveEntries  1024   IHave.Entries
//	MaxFrameSize    65536   a frame body; the largest valid body is a
//	                        Shuffle of 35528 bytes (MaxBodySize), the
//	                        rest is headroom
//
// The encoder refuses values over the limits (and a nil or unknown body,
// or a Priority other than low and high); the decoder refuses them too.
//
// # Decoding
//
// Decode is strict: it rejects an empty body, an unknown frame type or
// message kind, a field cut short, bytes after the last field, a length
// or count over its limit, a bool or presence byte other than 0 and 1,
// and a priority other than 0 and 1. Its errors are *DecodeError values
// naming the field and its offset in the body, and wrapping one of the
// Err* sentinels (use errors.Is).
//
// The encoding is canonical: nil and empty byte strings and lists encode
// alike, and Decode returns nil for them, so every body Decode accepts
// re-encodes to the same bytes, and every value within the limits
// survives an encode-decode round trip (up to nil versus empty). Decoded
// values never alias the body they were decoded from, which FrameReader
// reuses.
package wire
