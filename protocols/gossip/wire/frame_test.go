package wire_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/detsim/detsim/protocols/gossip/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// frameStream writes every body as a frame and returns the stream.
func frameStream(t testing.TB, bodies [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, b := range bodies {
		require.NoError(t, wire.WriteFrame(&buf, b))
	}
	return buf.Bytes()
}

func TestFrameReaderStream(t *testing.T) {
	bodies := append([][]byte{{}, []byte("x")}, allBodies(t)...)
	bodies = append(bodies, bytes.Repeat([]byte{0xEE}, wire.MaxFrameSize))
	stream := frameStream(t, bodies)

	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(stream) },
		"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
		"data+EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) },
	}
	for _, name := range []string{"whole", "one byte", "half", "data+EOF"} {
		t.Run(name, func(t *testing.T) {
			fr := wire.NewFrameReader(readers[name](), 0)
			for i, want := range bodies {
				got, err := fr.Next()
				require.NoError(t, err, "frame %d", i)
				require.Equal(t, len(want), len(got), "frame %d", i)
				require.True(t, bytes.Equal(want, got), "frame %d", i)
				if i >= 2 && i < len(bodies)-1 {
					_, err := wire.Decode(got)
					require.NoError(t, err, "frame %d", i)
				}
			}
			_, err := fr.Next()
			assert.Equal(t, io.EOF, err)
			_, err = fr.Next()
			assert.Equal(t, io.EOF, err, "EOF is sticky")
		})
	}
}

func TestFrameReaderEmptyStream(t *testing.T) {
	fr := wire.NewFrameReader(bytes.NewReader(nil), 0)
	_, err := fr.Next()
	assert.Equal(t, io.EOF, err)
}

// TestFrameReaderReusesBuffer: frames of a size already seen read without
// allocating, into the same memory.
func TestFrameReaderReusesBuffer(t *testing.T) {
	body := bytes.Repeat([]byte{1}, 1000)
	one := frameStream(t, [][]byte{body})
	stream := bytes.Repeat(one, 200)
	r := bytes.NewReader(stream)
	fr := wire.NewFrameReader(r, 0)
	first, err := fr.Next()
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		got, err := fr.Next()
		if err != nil || &got[0] != &first[0] {
			t.Fatalf("Next: %v, or the buffer moved", err)
		}
	})
	assert.Zero(t, allocs)
}

// countingReader counts the bytes it hands out.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestFrameReaderTooLarge(t *testing.T) {
	for _, prefix := range []uint32{wire.MaxFrameSize + 1, 1 << 31, 0xffffffff} {
		// The prefix promises a huge body; only the 4 prefix bytes are
		// read (the body is neither read nor allocated: see also
		// TestFrameReaderTooLargeNoAlloc).
		cr := &countingReader{r: bytes.NewReader(cat(u32(prefix), zeros(64)))}
		fr := wire.NewFrameReader(cr, 0)
		_, err := fr.Next()
		require.ErrorIs(t, err, wire.ErrFrameTooLarge)
		assert.Equal(t, 4, cr.n)
		_, err2 := fr.Next()
		assert.Equal(t, err, err2, "the error is sticky")
		assert.Equal(t, 4, cr.n)
	}

	// A custom max: max is accepted, max+1 is not.
	stream := frameStream(t, [][]byte{zeros(10), zeros(11)})
	fr := wire.NewFrameReader(bytes.NewReader(stream), 10)
	b, err := fr.Next()
	require.NoError(t, err)
	assert.Len(t, b, 10)
	_, err = fr.Next()
	require.ErrorIs(t, err, wire.ErrFrameTooLarge)
	assert.EqualError(t, err, "wire: frame too large: length prefix 11 exceeds 10")

	// The default max is MaxFrameSize.
	stream = frameStream(t, [][]byte{zeros(wire.MaxFrameSize)})
	stream = append(stream, u32(wire.MaxFrameSize+1)...)
	fr = wire.NewFrameReader(bytes.NewReader(stream), -1)
	_, err = fr.Next()
	require.NoError(t, err)
	_, err = fr.Next()
	require.ErrorIs(t, err, wire.ErrFrameTooLarge)
}

func TestFrameReaderTruncated(t *testing.T) {
	full := frameStream(t, [][]byte{[]byte("first"), []byte("second frame")})
	first := 4 + len("first")
	for n := 0; n <= len(full); n++ {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(full[:n])
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			fr := wire.NewFrameReader(r, 0)
			var got [][]byte
			var err error
			for {
				var b []byte
				if b, err = fr.Next(); err != nil {
					break
				}
				got = append(got, bytes.Clone(b))
			}
			switch {
			case n == 0 || n == first || n == len(full):
				assert.Equal(t, io.EOF, err, "cut at %d", n)
			default:
				assert.Equal(t, io.ErrUnexpectedEOF, err, "cut at %d", n)
				_, again := fr.Next()
				assert.Equal(t, io.ErrUnexpectedEOF, again, "sticky")
			}
			if n >= first {
				require.NotEmpty(t, got)
				assert.Equal(t, []byte("first"), got[0])
			} else {
				assert.Empty(t, got)
			}
		}
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestFrameReaderReaderError(t *testing.T) {
	boom := errors.New("boom")
	fr := wire.NewFrameReader(io.MultiReader(bytes.NewReader(u32(10)), errReader{boom}), 0)
	_, err := fr.Next()
	assert.Equal(t, boom, err)
	_, err = fr.Next()
	assert.Equal(t, boom, err)

	// Between frames.
	fr = wire.NewFrameReader(io.MultiReader(bytes.NewReader(cat(u32(1), u8(7))), errReader{boom}), 0)
	b, err := fr.Next()
	require.NoError(t, err)
	assert.Equal(t, []byte{7}, b)
	_, err = fr.Next()
	assert.Equal(t, boom, err)
}

// recordingWriter records every Write call.
type recordingWriter struct {
	calls [][]byte
	n     int // if > 0, accept at most n bytes per call
	err   error
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.calls = append(w.calls, bytes.Clone(p))
	if w.err != nil {
		return 0, w.err
	}
	if w.n > 0 && len(p) > w.n {
		return w.n, nil
	}
	return len(p), nil
}

func TestWriteFrame(t *testing.T) {
	w := &recordingWriter{}
	body := encode(t, samples()[1].msg)
	require.NoError(t, wire.WriteFrame(w, body))
	require.Len(t, w.calls, 1, "one Write per frame")
	assert.Equal(t, cat(u32(uint32(len(body))), body), w.calls[0])

	require.NoError(t, wire.WriteFrame(w, nil))
	require.Len(t, w.calls, 2)
	assert.Equal(t, u32(0), w.calls[1])

	err := wire.WriteFrame(w, zeros(wire.MaxFrameSize+1))
	require.ErrorIs(t, err, wire.ErrFrameTooLarge)
	assert.Len(t, w.calls, 2, "nothing written")
	require.NoError(t, wire.WriteFrame(w, zeros(wire.MaxFrameSize)))

	short := &recordingWriter{n: 3}
	assert.Equal(t, io.ErrShortWrite, wire.WriteFrame(short, body))

	boom := errors.New("boom")
	assert.Equal(t, boom, wire.WriteFrame(&recordingWriter{err: boom}, body))
}

// A FrameWriter reuses its buffer: each Write is still one whole frame, a
// longer body after a shorter one and the other way round.
func TestFrameWriterReusesBuffer(t *testing.T) {
	var fw wire.FrameWriter
	var stream bytes.Buffer
	bodies := [][]byte{[]byte("a longer first body"), []byte("short"), nil, bytes.Repeat([]byte("x"), 300)}
	for _, b := range bodies {
		require.NoError(t, fw.Write(&stream, b))
	}
	fr := wire.NewFrameReader(&stream, wire.MaxFrameSize)
	for _, want := range bodies {
		got, err := fr.Next()
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got))
	}
	_, err := fr.Next()
	assert.ErrorIs(t, err, io.EOF)
	assert.ErrorIs(t, fw.Write(&stream, zeros(wire.MaxFrameSize+1)), wire.ErrFrameTooLarge)
}
