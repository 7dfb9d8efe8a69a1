package sim

import (
	"context"
	"log/slog"
)

// logHandler stamps records with virtual time and the current task, so logs
// of a run are as reproducible as the run.
type logHandler struct {
	w *World
	h slog.Handler
}

func (l *logHandler) Enabled(ctx context.Context, lv slog.Level) bool { return l.h.Enabled(ctx, lv) }

func (l *logHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Time = l.w.Now()
	if t := l.w.current; t != nil {
		r.AddAttrs(slog.String("task", t.name))
	}
	return l.h.Handle(ctx, r)
}

func (l *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &logHandler{w: l.w, h: l.h.WithAttrs(as)}
}

func (l *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{w: l.w, h: l.h.WithGroup(name)}
}
