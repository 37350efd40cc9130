// Package fault classifies errors by what the person or script running klrbac should do about them.
// Domain packages attach a Kind and hints; cmd maps kinds to exit codes in one place.
package fault

import (
	"errors"
	"fmt"
	"io/fs"
)

// Kind says why a command failed, and so which exit code it ends with.
type Kind int

const (
	// Unclassified errors are treated as "could not evaluate".
	Unclassified Kind = iota
	// Usage: a bad flag, argument or name on the command line (exit 2).
	Usage
	// Config: the configuration or policy is invalid (exit 2).
	Config
	// Findings: the command worked and found something wrong: denied, missing scope, tampered
	// log, a broken doctor check (exit 1).
	Findings
	// Unavailable: the answer could not be established: network, key rejected, keyring
	// unavailable, audit record not written (exit 3).
	Unavailable
	// Interrupted: the user stopped the command (exit 130).
	Interrupted
)

// Error is an error with a kind and hints saying what to do about it.
type Error struct {
	Kind  Kind
	Err   error
	Hints []string
	// Silent errors have already been reported by the command's own output (a denied check prints
	// its "no" lines), so nothing more is printed.
	Silent bool
}

func (e *Error) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Hint adds hints and returns e, for chaining.
func (e *Error) Hint(hints ...string) *Error {
	for _, h := range hints {
		if h != "" {
			e.Hints = append(e.Hints, h)
		}
	}
	return e
}

// New returns an error of kind k with a formatted message; %w wraps as in fmt.Errorf.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Err: fmt.Errorf(format, args...)}
}

// Wrap gives err kind k, keeping its message. A nil err stays nil.
func Wrap(k Kind, err error) *Error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Err: err}
}

// Usagef reports a command-line mistake.
func Usagef(format string, args ...any) *Error { return New(Usage, format, args...) }

// Configf reports an invalid configuration.
func Configf(format string, args ...any) *Error { return New(Config, format, args...) }

// Unavailablef reports that something klrbac depends on could not answer.
func Unavailablef(format string, args ...any) *Error { return New(Unavailable, format, args...) }

// Silent returns an error of kind k that prints nothing: the command has said what there is to say.
func Silent(k Kind) *Error { return &Error{Kind: k, Silent: true} }

// KindOf returns the kind of the first classified error in err's chain.
func KindOf(err error) Kind {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Kind
	}
	return Unclassified
}

// Hints returns the hints attached anywhere along err's chain, outermost first.
func Hints(err error) []string {
	var out []string
	for err != nil {
		if fe, ok := err.(*Error); ok {
			out = append(out, fe.Hints...)
		}
		err = errors.Unwrap(err)
	}
	return out
}

// IsSilent reports whether err should be reported by its exit code alone.
func IsSilent(err error) bool {
	var fe *Error
	return errors.As(err, &fe) && fe.Silent
}

// PathCause is the cause of a file-system error without the path it names, for messages that
// name the file themselves: "cannot write audit log X: permission denied".
func PathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Problems lists the problems inside joined errors (every problem in a policy file), depth first,
// so that they read in the order they were found; any other error is its own one problem.
func Problems(err error) []error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	return []error{err}
}
