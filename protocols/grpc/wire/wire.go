// Package wire is the binary framing of the simulated gRPC stack: requests
// and responses, each a length-prefixed frame, multiplexed on one stream
// connection by stream id.
//
// Every integer is big-endian. A frame is
//
//	length   uint32  bytes that follow (the body), at most MaxFrameSize
//	body:
//	kind     uint8   1 request, 2 response
//	stream   uint32  stream id, chosen by the client
//	request:  method  uint16 length + bytes (non-empty)
//	          payload uint32 length + bytes
//	response: code    uint8 (a gRPC status code, see Code)
//	          message uint16 length + bytes
//	          payload uint32 length + bytes
//
// The body must be filled exactly: a frame whose inner lengths overrun or
// underrun its length is malformed. Decoding is strict, so every frame that
// decodes re-encodes to the same bytes.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// MaxFrameSize bounds a frame's body (everything after the length prefix).
const MaxFrameSize = 4 << 20

// HeaderSize is the size of the length prefix.
const HeaderSize = 4

// Kind tells a request frame from a response frame.
type Kind uint8

const (
	KindRequest  Kind = 1
	KindResponse Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindRequest:
		return "request"
	case KindResponse:
		return "response"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Frame is a *Request or a *Response.
type Frame interface {
	Kind() Kind
	Stream() uint32
}

// Request asks the server to run Method on Payload.
type Request struct {
	StreamID uint32
	Method   string
	Payload  []byte
}

// Response answers the request with the same StreamID.
type Response struct {
	StreamID uint32
	Code     Code
	Message  string
	Payload  []byte
}

func (*Request) Kind() Kind        { return KindRequest }
func (r *Request) Stream() uint32  { return r.StreamID }
func (*Response) Kind() Kind       { return KindResponse }
func (r *Response) Stream() uint32 { return r.StreamID }

var (
	// ErrFrameTooLarge: a frame's body would exceed MaxFrameSize.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrMalformed: a frame's bytes are not a valid frame.
	ErrMalformed = errors.New("wire: malformed frame")
	// ErrShort: Decode was given less than a whole frame.
	ErrShort = errors.New("wire: incomplete frame")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

const (
	requestFixed  = 1 + 4 + 2 + 4     // kind, stream, method len, payload len
	responseFixed = 1 + 4 + 1 + 2 + 4 // kind, stream, code, message len, payload len
	maxString     = 1<<16 - 1
)

// bodySize computes the body length of f, or an error if f cannot be encoded.
func bodySize(f Frame) (int, error) {
	var n int
	switch f := f.(type) {
	case *Request:
		if f == nil {
			return 0, fmt.Errorf("wire: nil *Request")
		}
		if f.Method == "" {
			return 0, fmt.Errorf("wire: request on stream %d has an empty method", f.StreamID)
		}
		if len(f.Method) > maxString {
			return 0, fmt.Errorf("wire: method name of %d bytes exceeds %d", len(f.Method), maxString)
		}
		n = requestFixed + len(f.Method) + len(f.Payload)
	case *Response:
		if f == nil {
			return 0, fmt.Errorf("wire: nil *Response")
		}
		if len(f.Message) > maxString {
			return 0, fmt.Errorf("wire: status message of %d bytes exceeds %d", len(f.Message), maxString)
		}
		n = responseFixed + len(f.Message) + len(f.Payload)
	default:
		return 0, fmt.Errorf("wire: cannot encode %T", f)
	}
	if n > MaxFrameSize {
		return 0, fmt.Errorf("%w: body of %d bytes exceeds %d", ErrFrameTooLarge, n, MaxFrameSize)
	}
	return n, nil
}

// Append appends f's encoding to dst.
func Append(dst []byte, f Frame) ([]byte, error) {
	n, err := bodySize(f)
	if err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, HeaderSize+n)
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	switch f := f.(type) {
	case *Request:
		dst = append(dst, byte(KindRequest))
		dst = binary.BigEndian.AppendUint32(dst, f.StreamID)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(f.Method)))
		dst = append(dst, f.Method...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(f.Payload)))
		dst = append(dst, f.Payload...)
	case *Response:
		dst = append(dst, byte(KindResponse))
		dst = binary.BigEndian.AppendUint32(dst, f.StreamID)
		dst = append(dst, byte(f.Code))
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(f.Message)))
		dst = append(dst, f.Message...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(f.Payload)))
		dst = append(dst, f.Payload...)
	}
	return dst, nil
}

// Encode returns f's encoding.
func Encode(f Frame) ([]byte, error) { return Append(nil, f) }

// Decode decodes the frame at the start of b and returns it with the number
// of bytes it took. If b holds less than a whole frame the error is ErrShort
// (wrapped); ErrFrameTooLarge and ErrMalformed are final. The frame's
// strings and payload are copies: b may be reused.
func Decode(b []byte) (Frame, int, error) {
	if len(b) < HeaderSize {
		return nil, 0, fmt.Errorf("%w: %d of %d header bytes", ErrShort, len(b), HeaderSize)
	}
	n := binary.BigEndian.Uint32(b)
	if n > MaxFrameSize {
		return nil, 0, fmt.Errorf("%w: body of %d bytes exceeds %d", ErrFrameTooLarge, n, MaxFrameSize)
	}
	if uint64(len(b)-HeaderSize) < uint64(n) {
		return nil, 0, fmt.Errorf("%w: %d of %d body bytes", ErrShort, len(b)-HeaderSize, n)
	}
	f, err := DecodeBody(b[HeaderSize : HeaderSize+int(n)])
	if err != nil {
		return nil, 0, err
	}
	return f, HeaderSize + int(n), nil
}

// DecodeBody decodes a frame body (the bytes after the length prefix),
// which must be exactly one frame.
func DecodeBody(body []byte) (Frame, error) { return decodeBody(body, false) }

// decodeBody decodes body; owned says the caller hands body over, so the
// payload may alias it instead of being copied.
func decodeBody(body []byte, owned bool) (Frame, error) {
	if len(body) > MaxFrameSize {
		return nil, fmt.Errorf("%w: body of %d bytes exceeds %d", ErrFrameTooLarge, len(body), MaxFrameSize)
	}
	d := decoder{b: body}
	kind := Kind(d.u8())
	stream := d.u32()
	if d.err != nil {
		return nil, malformed("body of %d bytes is shorter than a frame header", len(body))
	}
	switch kind {
	case KindRequest:
		method := d.bytes(int(d.u16()), "method")
		payload := d.bytes(int(d.u32()), "payload")
		if err := d.finish(); err != nil {
			return nil, err
		}
		if len(method) == 0 {
			return nil, malformed("request on stream %d has an empty method", stream)
		}
		payload = keep(payload, owned)
		return &Request{StreamID: stream, Method: string(method), Payload: payload}, nil
	case KindResponse:
		code := Code(d.u8())
		msg := d.bytes(int(d.u16()), "message")
		payload := d.bytes(int(d.u32()), "payload")
		if err := d.finish(); err != nil {
			return nil, err
		}
		payload = keep(payload, owned)
		return &Response{StreamID: stream, Code: code, Message: string(msg), Payload: payload}, nil
	}
	return nil, malformed("unknown frame kind %d", uint8(kind))
}

// keep returns the payload to hand out: nil when empty, else a copy unless
// the body is owned (then the payload aliases it, capped at its length).
func keep(b []byte, owned bool) []byte {
	if len(b) == 0 {
		return nil
	}
	if owned {
		return b[:len(b):len(b)]
	}
	return clone(b)
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// decoder reads fields from a body, remembering the first error.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) need(k int, what string) bool {
	if d.err != nil {
		return false
	}
	if k < 0 || len(d.b)-d.off < k {
		d.err = malformed("%s of %d bytes overruns the frame (%d bytes left)", what, k, len(d.b)-d.off)
		return false
	}
	return true
}

func (d *decoder) u8() uint8 {
	if !d.need(1, "field") {
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *decoder) u16() uint16 {
	if !d.need(2, "length") {
		return 0
	}
	v := binary.BigEndian.Uint16(d.b[d.off:])
	d.off += 2
	return v
}

func (d *decoder) u32() uint32 {
	if !d.need(4, "field") {
		return 0
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

func (d *decoder) bytes(k int, what string) []byte {
	if !d.need(k, what) {
		return nil
	}
	v := d.b[d.off : d.off+k]
	d.off += k
	return v
}

func (d *decoder) finish() error {
	if d.err != nil {
		return d.err
	}
	if d.off != len(d.b) {
		return malformed("%d trailing bytes after the payload", len(d.b)-d.off)
	}
	return nil
}

// ReadFrame reads one frame from r. It returns io.EOF only when r ends
// cleanly between frames; a frame cut short is io.ErrUnexpectedEOF. The
// length is checked against MaxFrameSize before the body is allocated.
func ReadFrame(r io.Reader) (Frame, error) {
	// One buffer for the length and, when it fits, the body: most frames
	// are small.
	buf := make([]byte, HeaderSize, readAhead)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(buf)
	if n > MaxFrameSize {
		return nil, fmt.Errorf("%w: body of %d bytes exceeds %d", ErrFrameTooLarge, n, MaxFrameSize)
	}
	var body []byte
	if int(n) <= readAhead-HeaderSize {
		body = buf[HeaderSize : HeaderSize+n]
	} else {
		body = make([]byte, n)
	}
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return decodeBody(body, true)
}

// readAhead is the size of ReadFrame's first buffer.
const readAhead = 64

// WriteFrame writes f to w with a single Write call (so concurrent writers
// that serialise their calls never interleave frames).
func WriteFrame(w io.Writer, f Frame) error {
	b, err := Encode(f)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
