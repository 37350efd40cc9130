//go:build unix

package audit

import (
	"os"

	"golang.org/x/sys/unix"
)

// tryLockHeld takes the exclusive lock on f if nobody holds it; the same lock the flock package
// takes on the file at the log's path.
func tryLockHeld(f *os.File) bool {
	ok := false
	if c, err := f.SyscallConn(); err == nil {
		_ = c.Control(func(fd uintptr) { ok = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB) == nil })
	}
	return ok
}

func unlockHeld(f *os.File) {
	if c, err := f.SyscallConn(); err == nil {
		_ = c.Control(func(fd uintptr) { _ = unix.Flock(int(fd), unix.LOCK_UN) })
	}
}
