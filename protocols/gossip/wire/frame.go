package wire

import (
	"encoding/binary"
	"fmt"
	"io"
)

// WriteFrame writes body as one frame (length prefix and body) with a
// single Write call, so frames of writers that take turns never
// interleave. A body over MaxFrameSize is refused with ErrFrameTooLarge
// and nothing is written. A short write without an error is reported as
// io.ErrShortWrite.
func WriteFrame(w io.Writer, body []byte) error {
	var fw FrameWriter
	return fw.Write(w, body)
}

// FrameWriter is WriteFrame for a writer that sends many frames: it
// reuses one buffer for the length prefix and body (an io.Writer does not
// keep what it is given).
type FrameWriter struct{ buf []byte }

// Write writes body as one frame on w, as WriteFrame.
func (fw *FrameWriter) Write(w io.Writer, body []byte) error {
	if len(body) > MaxFrameSize {
		return fmt.Errorf("%w: body of %d bytes exceeds %d", ErrFrameTooLarge, len(body), MaxFrameSize)
	}
	buf := binary.BigEndian.AppendUint32(fw.buf[:0], uint32(len(body)))
	buf = append(buf, body...)
	fw.buf = buf
	n, err := w.Write(buf)
	if err == nil && n != len(buf) {
		err = io.ErrShortWrite
	}
	return err
}

// FrameReader reads frames from a byte stream, reusing one buffer.
type FrameReader struct {
	r   io.Reader
	max int
	hdr [HeaderSize]byte
	buf []byte
	err error
}

// NewFrameReader returns a FrameReader on r that accepts bodies of at most
// max bytes (MaxFrameSize if max <= 0).
func NewFrameReader(r io.Reader, max int) *FrameReader {
	if max <= 0 {
		max = MaxFrameSize
	}
	return &FrameReader{r: r, max: max}
}

// Next reads the next frame and returns its body. The body is valid until
// the next call to Next, which reuses its memory (Decode copies what it
// keeps).
//
// Errors: io.EOF when the stream ends cleanly between frames;
// io.ErrUnexpectedEOF when it ends inside one; ErrFrameTooLarge (wrapped)
// when a length prefix is over max, detected before the body is read or
// allocated; otherwise the reader's error. Errors are sticky: the stream
// is no longer in step, and every later call returns the same error.
func (fr *FrameReader) Next() ([]byte, error) {
	if fr.err != nil {
		return nil, fr.err
	}
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		// io.EOF: nothing read, a clean boundary; io.ErrUnexpectedEOF: a
		// partial prefix.
		fr.err = err
		return nil, err
	}
	n := binary.BigEndian.Uint32(fr.hdr[:])
	if uint64(n) > uint64(fr.max) {
		fr.err = fmt.Errorf("%w: length prefix %d exceeds %d", ErrFrameTooLarge, n, fr.max)
		return nil, fr.err
	}
	if cap(fr.buf) < int(n) {
		c := min(max(int(n), 2*cap(fr.buf)), fr.max)
		fr.buf = make([]byte, c)
	}
	body := fr.buf[:n]
	if _, err := io.ReadFull(fr.r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		fr.err = err
		return nil, err
	}
	return body, nil
}
