//go:build unix

package sandbox

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// ReleaseStdout lets go of the process's stdout once --print-env has written the exports: a shell
// reading them through $(klrbac sandbox --print-env &) waits for the end of the pipe, and the
// sandbox keeps running. Pointing fd 1 at /dev/null, rather than closing it, keeps a later socket
// from taking its number.
func ReleaseStdout(w io.Writer) {
	f, ok := w.(*os.File)
	if !ok || f != os.Stdout {
		return
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer null.Close()
	_ = unix.Dup2(int(null.Fd()), int(f.Fd()))
}
