package wire_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/detsim/detsim/protocols/grpc/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func frames() []wire.Frame {
	return []wire.Frame{
		&wire.Request{StreamID: 1, Method: "/echo.Echo/Hello", Payload: []byte("hi")},
		&wire.Request{StreamID: 0, Method: "m"},
		&wire.Request{StreamID: 1<<32 - 1, Method: strings.Repeat("x", 1<<16-1), Payload: bytes.Repeat([]byte{7}, 1000)},
		&wire.Response{StreamID: 1, Code: wire.OK, Payload: []byte("backend-1")},
		&wire.Response{StreamID: 9, Code: wire.Unavailable, Message: "backend down"},
		&wire.Response{StreamID: 3, Code: wire.Code(255), Message: "odd code"},
	}
}

func TestRoundTrip(t *testing.T) {
	var stream bytes.Buffer
	for _, f := range frames() {
		b, err := wire.Encode(f)
		require.NoError(t, err)
		got, n, err := wire.Decode(b)
		require.NoError(t, err)
		assert.Equal(t, len(b), n)
		assert.Equal(t, f, got)
		// Every prefix is reported as incomplete, never as malformed.
		for k := 0; k < len(b); k += 1 + k/3 {
			_, _, err := wire.Decode(b[:k])
			require.ErrorIs(t, err, wire.ErrShort, "prefix %d of %d", k, len(b))
		}
		require.NoError(t, wire.WriteFrame(&stream, f))
	}
	// The same frames read back from one stream, then a clean EOF.
	for _, f := range frames() {
		got, err := wire.ReadFrame(&stream)
		require.NoError(t, err)
		assert.Equal(t, f, got)
	}
	_, err := wire.ReadFrame(&stream)
	assert.Equal(t, io.EOF, err)
}

func TestDecodeCopies(t *testing.T) {
	b, err := wire.Encode(&wire.Response{StreamID: 1, Payload: []byte("abc")})
	require.NoError(t, err)
	f, _, err := wire.Decode(b)
	require.NoError(t, err)
	for i := range b {
		b[i] = 0
	}
	assert.Equal(t, []byte("abc"), f.(*wire.Response).Payload)
}

func TestEncodeErrors(t *testing.T) {
	_, err := wire.Encode(&wire.Request{StreamID: 1})
	assert.ErrorContains(t, err, "empty method")
	_, err = wire.Encode(&wire.Request{StreamID: 1, Method: strings.Repeat("m", 1<<16)})
	assert.ErrorContains(t, err, "method name of 65536 bytes")
	_, err = wire.Encode(&wire.Response{Message: strings.Repeat("m", 1<<16)})
	assert.ErrorContains(t, err, "status message")
	_, err = wire.Encode(&wire.Response{Payload: make([]byte, wire.MaxFrameSize)})
	assert.ErrorIs(t, err, wire.ErrFrameTooLarge)
	_, err = wire.Encode((*wire.Request)(nil))
	assert.Error(t, err)
	_, err = wire.Encode(nil)
	assert.Error(t, err)
}

func TestDecodeErrors(t *testing.T) {
	frame := func(body ...byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	cases := []struct {
		name string
		in   []byte
		want error
		msg  string
	}{
		{"too large", binary.BigEndian.AppendUint32(nil, wire.MaxFrameSize+1), wire.ErrFrameTooLarge, "exceeds"},
		{"empty body", frame(), wire.ErrMalformed, "shorter than a frame header"},
		{"unknown kind", frame(9, 0, 0, 0, 1), wire.ErrMalformed, "unknown frame kind 9"},
		{"method overruns", frame(1, 0, 0, 0, 1, 0, 5, 'a'), wire.ErrMalformed, "method of 5 bytes overruns"},
		{"empty method", frame(1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0), wire.ErrMalformed, "empty method"},
		{"payload overruns", frame(1, 0, 0, 0, 1, 0, 1, 'a', 0, 0, 0, 9), wire.ErrMalformed, "payload of 9 bytes overruns"},
		{"huge payload length", frame(1, 0, 0, 0, 1, 0, 1, 'a', 0xff, 0xff, 0xff, 0xff), wire.ErrMalformed, "overruns"},
		{"trailing bytes", frame(1, 0, 0, 0, 1, 0, 1, 'a', 0, 0, 0, 0, 'x'), wire.ErrMalformed, "1 trailing bytes"},
		{"response cut", frame(2, 0, 0, 0, 1, 0), wire.ErrMalformed, "overruns"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := wire.Decode(c.in)
			require.ErrorIs(t, err, c.want)
			assert.ErrorContains(t, err, c.msg)
			_, err = wire.ReadFrame(bytes.NewReader(c.in))
			require.ErrorIs(t, err, c.want)
		})
	}
	_, err := wire.ReadFrame(bytes.NewReader(frame(1, 0, 0)[:5]))
	assert.Equal(t, io.ErrUnexpectedEOF, err, "a frame cut short is not a clean EOF")
}

func TestStatus(t *testing.T) {
	err := wire.Errorf(wire.NotFound, "no %s", "thing")
	assert.Equal(t, "rpc error: code = NotFound desc = no thing", err.Error())
	assert.Equal(t, wire.NotFound, wire.CodeOf(fmt.Errorf("wrapped: %w", err)))
	assert.Equal(t, wire.OK, wire.CodeOf(nil))
	assert.Equal(t, wire.Unknown, wire.CodeOf(errors.New("plain")))
	assert.Equal(t, wire.DeadlineExceeded, wire.CodeOf(context.DeadlineExceeded))
	cause := errors.New("picker says no")
	w := wire.Wrap(wire.Unavailable, cause, "pick failed")
	assert.ErrorIs(t, w, cause)
	assert.Equal(t, "pick failed", wire.MessageOf(w))
	assert.Equal(t, "Code(200)", wire.Code(200).String())
}

// FuzzDecode: the decoder never panics, never claims more bytes than it was
// given, and is canonical: whatever decodes re-encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	for _, fr := range frames()[:2] {
		b, _ := wire.Encode(fr)
		f.Add(b)
	}
	b, _ := wire.Encode(frames()[4])
	f.Add(b)
	f.Add([]byte{0, 0, 0, 5, 1, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		fr, n, err := wire.Decode(in)
		if err != nil {
			if !errors.Is(err, wire.ErrShort) && !errors.Is(err, wire.ErrMalformed) && !errors.Is(err, wire.ErrFrameTooLarge) {
				t.Fatalf("unclassified error %v", err)
			}
			if fr != nil || n != 0 {
				t.Fatalf("error %v with a frame", err)
			}
			return
		}
		if n < wire.HeaderSize || n > len(in) {
			t.Fatalf("consumed %d of %d bytes", n, len(in))
		}
		out, err := wire.Encode(fr)
		if err != nil {
			t.Fatalf("decoded frame %+v does not encode: %v", fr, err)
		}
		if !bytes.Equal(out, in[:n]) {
			t.Fatalf("not canonical:\n in %x\nout %x", in[:n], out)
		}
		// The streaming reader agrees with Decode.
		fr2, err := wire.ReadFrame(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("ReadFrame: %v", err)
		}
		if !assert.ObjectsAreEqual(fr, fr2) {
			t.Fatalf("ReadFrame %+v != Decode %+v", fr2, fr)
		}
	})
}
