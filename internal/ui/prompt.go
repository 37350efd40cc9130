package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/klrbac/klrbac/internal/fault"
)

// maxSecretInput bounds what ReadSecret takes from a pipe: more than any credential, so a wrong
// file piped in fails at once instead of being read whole.
const maxSecretInput = 64 << 10

// fd returns the file descriptor behind r when it is a terminal.
func fd(r io.Reader) (int, bool) {
	f, ok := r.(interface{ Fd() uintptr })
	if !ok {
		return 0, false
	}
	n := int(f.Fd())
	return n, term.IsTerminal(n)
}

// ReadSecret reads a credential: from a prompt with echo off when standard input is a terminal,
// else everything on standard input. Nothing typed is ever echoed. Ctrl-C at the prompt restores
// the terminal and returns context.Canceled.
func (s *IO) ReadSecret(prompt string) (string, error) {
	n, tty := fd(s.In)
	if !s.InTTY || !tty {
		b, err := io.ReadAll(io.LimitReader(s.In, maxSecretInput))
		if err != nil {
			return "", fault.Unavailablef("cannot read standard input: %v", err)
		}
		return string(b), nil
	}
	state, err := term.GetState(n)
	if err != nil {
		return "", fault.Unavailablef("cannot use the terminal: %v", err)
	}
	fmt.Fprint(s.Err, prompt)
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := term.ReadPassword(n)
		done <- result{b, err}
	}()
	// ReadPassword turns echo off; a signal would end klrbac with the terminal still silent.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case r := <-done:
		fmt.Fprintln(s.Err)
		if r.err != nil {
			return "", fault.Unavailablef("cannot read from the terminal: %v", r.err)
		}
		return string(r.b), nil
	case <-sig:
		_ = term.Restore(n, state)
		fmt.Fprintln(s.Err)
		return "", context.Canceled
	}
}

// Confirm asks a yes/no question on the terminal and reports whether the answer was yes; anything
// else, including an empty line or end of input, is no.
func (s *IO) Confirm(question string) (bool, error) {
	fmt.Fprint(s.Err, question+" [y/N] ")
	var line []byte
	buf := make([]byte, 1)
	// One byte at a time: nothing after the answer is consumed from a shared standard input.
	for len(line) < 256 {
		n, err := s.In.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			line = append(line, buf[0])
		}
		if errors.Is(err, io.EOF) {
			fmt.Fprintln(s.Err)
			break
		}
		if err != nil {
			return false, fault.Unavailablef("cannot read the answer: %v", err)
		}
	}
	switch strings.ToLower(strings.TrimSpace(string(line))) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
