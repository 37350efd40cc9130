package audit

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// preallocate has the file system allocate n bytes past offset without changing the file's size.
// It returns errors.ErrUnsupported where the file system cannot.
func preallocate(f *os.File, offset, n int64) error {
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, offset, n)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return errors.ErrUnsupported
	}
	if err != nil {
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
	return nil
}
