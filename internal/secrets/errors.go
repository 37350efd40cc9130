package secrets

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"time"

	dbus "github.com/godbus/dbus/v5"
	"github.com/zalando/go-keyring"

	"github.com/klrbac/klrbac/internal/fault"
)

// Class says why a keyring call failed, and so what the person running klrbac can do about it.
type Class int

const (
	// Failed: the keyring answered with an error klrbac does not recognise.
	Failed Class = iota
	// NotFound: the keyring works and holds no such item.
	NotFound
	// Disabled: the keyring is turned off (KLRBAC_KEYRING=off).
	Disabled
	// NoSessionBus: there is no D-Bus session bus to reach a Secret Service through.
	NoSessionBus
	// NoSecretService: the session bus is there, but no Secret Service is running on it.
	NoSecretService
	// Locked: the keyring is locked and could not be unlocked without a person.
	Locked
	// TimedOut: the keyring did not answer in time, typically waiting on an unlock prompt.
	TimedOut
)

func (c Class) String() string {
	switch c {
	case NotFound:
		return "not found"
	case Disabled:
		return "disabled"
	case NoSessionBus:
		return "no session bus"
	case NoSecretService:
		return "no Secret Service"
	case Locked:
		return "locked"
	case TimedOut:
		return "timed out"
	}
	return "failed"
}

// Error is a failed keyring call.
type Error struct {
	Class Class
	// Op is what was attempted: "read", "store" or "remove".
	Op   string
	Item Item
	// Timeout is the limit a TimedOut call exceeded.
	Timeout time.Duration
	// Err is the keyring's own error, when there is one.
	Err error
}

// ErrNotFound matches (errors.Is) any keyring error of class NotFound.
var ErrNotFound = errors.New("not found in the keyring")

// ErrDisabled matches (errors.Is) any keyring error of class Disabled.
var ErrDisabled = errors.New("the keyring is off")

func (e *Error) Error() string {
	return fmt.Sprintf("cannot %s %s in the keyring: %s", e.Op, e.Item, e.Reason())
}

// Reason describes the failure without the operation, e.g. "the keyring is locked".
func (e *Error) Reason() string {
	switch e.Class {
	case NotFound:
		return "no such item"
	case Disabled:
		return "the keyring is off (keyring.backend: off)"
	case NoSessionBus:
		if errors.Is(e.Err, errBusAddressUnset) {
			return "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)"
		}
		return "cannot connect to the D-Bus session bus" + cause(e.Err)
	case NoSecretService:
		return "no Secret Service is running on the session bus"
	case Locked:
		return "the keyring is locked"
	case TimedOut:
		return fmt.Sprintf("the keyring did not answer within %s", e.Timeout)
	}
	return "the keyring failed" + cause(e.Err)
}

func cause(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, ErrNotFound) and errors.Is(err, ErrDisabled) match by class.
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.Class == NotFound || target == ErrDisabled && e.Class == Disabled
}

// Advice says what to do about a failure of this class. alternative names an environment variable
// that would make the keyring unnecessary (e.g. KLAVIYO_KEY_MARKETER), or is "".
func (e *Error) Advice(alternative string) string {
	or := ""
	if alternative != "" {
		or = ", or set " + alternative
	}
	switch e.Class {
	case NotFound:
		return ""
	case Disabled:
		if alternative != "" {
			return "set " + alternative + ", or turn the keyring on: unset KLRBAC_KEYRING (keyring.backend: system)"
		}
		return "turn the keyring on: unset KLRBAC_KEYRING (keyring.backend: system)"
	case NoSessionBus:
		return "run klrbac in a desktop session, or start a bus with `dbus-run-session -- $SHELL`" + or +
			"; CI jobs set KLRBAC_KEYRING=off and pass keys in KLAVIYO_KEY_* variables"
	case NoSecretService:
		return "start one (gnome-keyring-daemon inside dbus-run-session, or KeePassXC with its Secret Service integration)" + or
	case Locked:
		return "unlock the keyring (log in to the desktop session, or unlock \"login\" in your keyring manager) and retry" + or
	case TimedOut:
		return "the keyring may be waiting for you to unlock it: unlock it and retry, or raise keyring.timeout (KLRBAC_KEYRING_TIMEOUT)" + or
	}
	return "check that the OS keyring works (e.g. `secret-tool search service klrbac`)" + or
}

// Explain turns a keyring error into a classified error for the command line: exit 3 with the
// advice for its class. alternative is as for Advice. Other errors are returned unchanged.
func Explain(err error, alternative string) error {
	var ke *Error
	if !errors.As(err, &ke) {
		return err
	}
	return fault.Wrap(fault.Unavailable, err).Hint(ke.Advice(alternative))
}

// ClassOf returns the class of a keyring error, Failed for any other error.
func ClassOf(err error) Class {
	var ke *Error
	if errors.As(err, &ke) {
		return ke.Class
	}
	return Failed
}

// errBusAddressUnset is reported instead of letting the D-Bus library look for a bus by starting
// dbus-launch, which leaves a daemon running after klrbac exits.
var errBusAddressUnset = errors.New("DBUS_SESSION_BUS_ADDRESS is not set")

// classify recognises the errors go-keyring passes up from D-Bus and the Secret Service.
func classify(err error) Class {
	if errors.Is(err, keyring.ErrNotFound) {
		return NotFound
	}
	if errors.Is(err, errBusAddressUnset) {
		return NoSessionBus
	}
	var de dbus.Error
	var dep *dbus.Error
	name := ""
	if errors.As(err, &de) {
		name = de.Name
	} else if errors.As(err, &dep) && dep != nil {
		name = dep.Name
	}
	switch name {
	case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner":
		return NoSecretService
	case "org.freedesktop.Secret.Error.IsLocked":
		return Locked
	case "org.freedesktop.DBus.Error.NoReply", "org.freedesktop.DBus.Error.Timeout", "org.freedesktop.DBus.Error.TimedOut":
		return TimedOut
	case "":
	default:
		return Failed
	}
	var ee *exec.Error
	var ne *net.OpError
	if errors.As(err, &ee) || errors.As(err, &ne) {
		return NoSessionBus
	}
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "failed to unlock"), strings.Contains(msg, "is locked"):
		// go-keyring's words when the unlock prompt was dismissed or could not be shown.
		return Locked
	case strings.Contains(msg, "session bus"), strings.Contains(msg, "dbus-launch"),
		strings.Contains(msg, "dbus_session_bus_address"), strings.Contains(msg, "dbus: authentication failed"):
		return NoSessionBus
	}
	return Failed
}
