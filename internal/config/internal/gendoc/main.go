// Command gendoc writes docs/configuration.md from the table of settings (config.Reference).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/klrbac/klrbac/internal/config"
)

func main() {
	out := flag.String("out", "../../docs/configuration.md", "file to write")
	flag.Parse()
	if err := os.WriteFile(*out, config.Reference(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gendoc:", err)
		os.Exit(1)
	}
}
