package ui

import (
	"fmt"
	"sync"
	"time"
)

// Progress keeps one status line at the bottom of a terminal's stderr, redrawn in place, for
// commands that wait on the network. Off a terminal it draws nothing, so logs and pipes get only
// what the command prints for itself. It is safe for concurrent use.
type Progress struct {
	s       *IO
	active  bool
	minGap  time.Duration
	now     func() time.Time
	mu      sync.Mutex
	shown   bool
	last    time.Time
	pending string
}

// NewProgress returns a progress line on s's stderr, drawn only when stderr is a terminal.
func (s *IO) NewProgress() *Progress {
	return &Progress{s: s, active: s.ErrTTY, minGap: 100 * time.Millisecond, now: time.Now}
}

// Update replaces the status line; redraws come at most ten times a second.
func (p *Progress) Update(line string) {
	if p == nil || !p.active {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = line
	if now := p.now(); !p.shown || now.Sub(p.last) >= p.minGap {
		p.draw(now)
	}
}

// Println prints a line of output above the status line, which stays.
func (p *Progress) Println(line string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.s.Err, "\r\x1b[K")
	}
	fmt.Fprintln(p.s.Err, line)
	if p.shown {
		fmt.Fprint(p.s.Err, p.pending)
	}
}

// Done removes the status line.
func (p *Progress) Done() {
	if p == nil || !p.active {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.s.Err, "\r\x1b[K")
		p.shown = false
	}
}

func (p *Progress) draw(now time.Time) {
	fmt.Fprint(p.s.Err, "\r\x1b[K"+p.pending)
	p.shown, p.last = true, now
}
