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
// the terminal and returns context.Canceled; Ctrl-D returns what was typed so far.
func (s *IO) ReadSecret(prompt string) (string, error) {
	n, tty := fd(s.In)
	if !s.InTTY || !tty {
		b, err := io.ReadAll(io.LimitReader(s.In, maxSecretInput))
		if err != nil {
			return "", fault.Unavailablef("cannot read standard input: %v", err)
		}
		return string(b), nil
	}
	// Raw mode rather than term.ReadPassword: ReadPassword spins forever on Ctrl-D at an empty
	// line, and raw mode lets Ctrl-C arrive as a key, so the terminal is restored before leaving.
	state, err := term.MakeRaw(n)
	if err != nil {
		return "", fault.Unavailablef("cannot use the terminal: %v", err)
	}
	restore := func() { _ = term.Restore(n, state) }
	fmt.Fprint(s.Err, prompt)
	type result struct {
		line string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := readHiddenLine(s.In)
		done <- result{line, err}
	}()
	// A signal (SIGTERM, or SIGINT sent by another process) would end klrbac with the terminal
	// still raw.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case r := <-done:
		restore()
		fmt.Fprintln(s.Err)
		if r.err != nil {
			return "", r.err
		}
		return r.line, nil
	case <-sig:
		restore()
		fmt.Fprintln(s.Err)
		return "", context.Canceled
	}
}

// readHiddenLine reads one line from a terminal in raw mode, handling the keys a line editor
// would: Enter ends it, Backspace and Ctrl-U edit it, Ctrl-D ends the input, Ctrl-C cancels.
func readHiddenLine(in io.Reader) (string, error) {
	var line []byte
	buf := make([]byte, 1)
	for len(line) < maxSecretInput {
		n, err := in.Read(buf)
		if n == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				return string(line), nil
			}
			return "", fault.Unavailablef("cannot read from the terminal: %v", err)
		}
		switch c := buf[0]; c {
		case '\r', '\n', 0x04: // Enter; Ctrl-D
			return string(line), nil
		case 0x03: // Ctrl-C
			return "", context.Canceled
		case 0x7f, 0x08: // Backspace
			if len(line) > 0 {
				line = line[:len(line)-1]
			}
		case 0x15: // Ctrl-U
			line = line[:0]
		default:
			if c >= 0x20 {
				line = append(line, c)
			}
		}
	}
	return string(line), nil
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
