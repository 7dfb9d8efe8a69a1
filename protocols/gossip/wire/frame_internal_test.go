package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// headerOnly serves a 4-byte length prefix and fails the test if anything
// past it is read.
type headerOnly struct {
	t   *testing.T
	hdr []byte
}

func (h *headerOnly) Read(p []byte) (int, error) {
	if len(h.hdr) == 0 {
		h.t.Fatalf("read of %d bytes past the length prefix", len(p))
	}
	n := copy(p, h.hdr)
	h.hdr = h.hdr[n:]
	return n, nil
}

// TestFrameReaderTooLargeNoAlloc: an oversized length prefix is refused
// before the body is read or any buffer allocated for it.
func TestFrameReaderTooLargeNoAlloc(t *testing.T) {
	for _, n := range []uint32{MaxFrameSize + 1, 1 << 30, 0xffffffff} {
		r := &headerOnly{t: t, hdr: binary.BigEndian.AppendUint32(nil, n)}
		fr := NewFrameReader(r, 0)
		if _, err := fr.Next(); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("prefix %d: got %v, want ErrFrameTooLarge", n, err)
		}
		if fr.buf != nil {
			t.Fatalf("prefix %d: a buffer of %d bytes was allocated", n, cap(fr.buf))
		}
	}
}

// TestFrameReaderGrowth: the buffer doubles, capped at max.
func TestFrameReaderGrowth(t *testing.T) {
	var stream bytes.Buffer
	for _, n := range []int{60, 70, 100, 10} {
		if err := WriteFrame(&stream, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}
	fr := NewFrameReader(&stream, 100)
	for _, want := range []int{60, 100, 100, 100} {
		if _, err := fr.Next(); err != nil {
			t.Fatal(err)
		}
		if cap(fr.buf) != want {
			t.Fatalf("capacity %d, want %d", cap(fr.buf), want)
		}
	}
}
