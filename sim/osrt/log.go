package osrt

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"strconv"
)

// logHandler adds the calling task's name to every record; the record's
// time is already the real time (slog stamps it).
type logHandler struct {
	r *Runtime
	h slog.Handler
}

func (l *logHandler) Enabled(ctx context.Context, lv slog.Level) bool { return l.h.Enabled(ctx, lv) }

func (l *logHandler) Handle(ctx context.Context, rec slog.Record) error {
	if name, ok := l.r.names.Load(goid()); ok {
		rec.AddAttrs(slog.String("task", name.(string)))
	}
	return l.h.Handle(ctx, rec)
}

func (l *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &logHandler{r: l.r, h: l.h.WithAttrs(as)}
}

func (l *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{r: l.r, h: l.h.WithGroup(name)}
}

// goid is the calling goroutine's id, read from the first line of its
// stack trace ("goroutine 42 [running]:"). NB: Go offers no supported way
// to ask; this is the usual one, and only the logger and task start use
// it, so a task can be named in its log records without passing its name
// around.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
