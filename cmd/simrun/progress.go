package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/detsim/detsim/reports"
)

// plainProgressAfter is how long a sweep runs before progress lines are
// written to a non-terminal: short sweeps stay quiet in logs.
var plainProgressAfter = time.Second

// progress reports a long loop's progress on stderr: on a terminal, one
// line redrawn in place (runs/total, failures, seeds/s, ETA); elsewhere, a
// plain line at every 10% once the loop has run for plainProgressAfter.
// A nil *progress does nothing.
type progress struct {
	w     io.Writer
	tty   bool
	label string
	total int
	start time.Time

	done, failures atomic.Int64
	decile         atomic.Int64 // last decile written (plain mode)

	mu      sync.Mutex // serialises writes
	width   int        // of the last terminal line, to blank it
	stop    chan struct{}
	stopped sync.WaitGroup
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func startProgress(w io.Writer, label string, total int) *progress {
	p := &progress{w: w, tty: isTerminal(w), label: label, total: total, start: time.Now()}
	if p.tty {
		p.stop = make(chan struct{})
		p.stopped.Add(1)
		go p.redraw()
	}
	return p
}

// add counts one finished run.
func (p *progress) add(failed bool) {
	if p == nil {
		return
	}
	if failed {
		p.failures.Add(1)
	}
	done := p.done.Add(1)
	if p.tty || p.total == 0 {
		return
	}
	d := done * 10 / int64(p.total)
	last := p.decile.Load()
	if d > last && p.decile.CompareAndSwap(last, d) && time.Since(p.start) >= plainProgressAfter {
		p.mu.Lock()
		fmt.Fprintln(p.w, p.line())
		p.mu.Unlock()
	}
}

func (p *progress) redraw() {
	defer p.stopped.Done()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			p.draw()
		}
	}
}

// draw rewrites the terminal line in place.
func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := p.line()
	pad := max(p.width-len(line), 0)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
	p.width = len(line)
}

// line renders the current state.
func (p *progress) line() string {
	done := p.done.Load()
	elapsed := time.Since(p.start)
	rate := float64(done) / max(elapsed.Seconds(), 1e-9)
	s := fmt.Sprintf("%s: %s/%s runs, %s failures, %s seeds/s", p.label,
		reports.Count(int(done)), reports.Count(p.total), reports.Count(int(p.failures.Load())), reports.Count(int(rate)))
	if rate > 0 && int(done) < p.total {
		eta := time.Duration(float64(int64(p.total)-done) / rate * float64(time.Second))
		s += fmt.Sprintf(", ETA %v", eta.Round(time.Second))
	}
	return s
}

// finish stops the progress display: a terminal line is blanked.
func (p *progress) finish() {
	if p == nil {
		return
	}
	if p.tty {
		close(p.stop)
		p.stopped.Wait()
		if p.width > 0 {
			fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
		}
	}
}

// pause runs print (which writes elsewhere, say stdout on the same
// terminal) with the progress line blanked, so the two do not mix.
func (p *progress) pause(print func()) {
	if p == nil {
		print()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.width > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
		p.width = 0
	}
	print()
}
