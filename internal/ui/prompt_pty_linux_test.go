package ui

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: the side a person types into and the side klrbac reads.
func openPTY(t *testing.T) (person, tty *os.File) {
	t.Helper()
	person, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { person.Close() })
	if err := unix.IoctlSetPointerInt(int(person.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(person.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return person, tty
}

func echoing(t *testing.T, tty *os.File) bool {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio.Lflag&unix.ECHO != 0
}

// TestReadSecretDoesNotEchoOnATerminal types a key the way a person does, after the prompt is up,
// and checks that the terminal never shows it and is left echoing again afterwards.
func TestReadSecretDoesNotEchoOnATerminal(t *testing.T) {
	person, tty := openPTY(t)
	const key = "pk_0123456789abcdef0123456789abcdef01"
	var prompt bytes.Buffer
	s := &IO{In: tty, Err: &prompt, InTTY: true}
	type result struct {
		line string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := s.ReadSecret("key: ")
		done <- result{line, err}
	}()

	// A person starts typing once the prompt is up: by then echo must be off.
	deadline := time.Now().Add(10 * time.Second)
	for echoing(t, tty) {
		if time.Now().After(deadline) {
			t.Fatal("the prompt never turned the terminal's echo off")
		}
		time.Sleep(time.Millisecond)
	}
	var shown bytes.Buffer
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		_, _ = io.Copy(&shown, person) // ends with EIO when klrbac's side closes
	}()
	if _, err := person.WriteString(key + "\r"); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ReadSecret did not return after Enter")
	}
	if r.err != nil || r.line != key {
		t.Fatalf("ReadSecret returned %d characters, %v; want the %d typed", len(r.line), r.err, len(key))
	}
	if !echoing(t, tty) {
		t.Error("the terminal was left with echo off")
	}

	// Everything the terminal showed the person: closing klrbac's side ends the reading once the
	// output is drained.
	tty.Close()
	<-readDone
	if bytes.Contains(shown.Bytes(), []byte(key[3:19])) {
		t.Errorf("the terminal showed the typed key (%d bytes of output)", shown.Len())
	}
	if prompt.String() != "key: \n" {
		t.Errorf("prompt = %q", prompt.String())
	}
}
