// Package warn prints klrbac's warnings: one line, "klrbac: warning: ..." on the writer given
// (stderr), with every credential in it masked. It is the only place that writes that prefix, so
// that a warning carrying an error's text (which may quote a key, a token or a URL with a password)
// cannot bypass masking, whichever package raises it.
package warn

import (
	"fmt"
	"io"
	"strings"

	"github.com/klrbac/klrbac/internal/mask"
)

// Prefix starts every warning line.
const Prefix = "klrbac: warning: "

// Printf writes one warning. The text is masked as a whole, after formatting, since the credential
// is usually inside an argument (an error's message).
func Printf(w io.Writer, format string, args ...any) {
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	_, _ = io.WriteString(w, Prefix+mask.InText(msg)+"\n")
}
