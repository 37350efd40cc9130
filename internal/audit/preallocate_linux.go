package audit

import (
	"os"

	"golang.org/x/sys/unix"
)

// preallocate asks the file system to keep n bytes allocated past offset without changing the
// file's size, so that the appends that follow cannot find the disk full. Best effort: not every
// file system can.
func preallocate(f *os.File, offset, n int64) {
	_ = unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, offset, n)
}
