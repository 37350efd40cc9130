//go:build !unix

package sandbox

import (
	"io"
	"os"
)

// ReleaseStdout lets go of the process's stdout once --print-env has written the exports, so a
// shell reading them through a pipe sees its end while the sandbox keeps running.
func ReleaseStdout(w io.Writer) {
	if f, ok := w.(*os.File); ok && f == os.Stdout {
		_ = f.Close()
	}
}
