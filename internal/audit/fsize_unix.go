//go:build unix

package audit

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// withinFileSizeLimit fails as a write would (EFBIG) when a file may not grow to size bytes under
// this process's file-size limit (RLIMIT_FSIZE, ulimit -f), which no allocation ahead of time
// reveals.
func withinFileSizeLimit(size int64) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &lim); err != nil || lim.Cur == unix.RLIM_INFINITY {
		return nil
	}
	if uint64(size) > lim.Cur {
		return fmt.Errorf("%w: the file-size limit (ulimit -f) leaves no room for the next entries", unix.EFBIG)
	}
	return nil
}
