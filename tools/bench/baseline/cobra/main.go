// Command cobra is the framework baseline: a minimal cobra program with one subcommand.
package main

import (
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{Use: "baseline"}
	root.AddCommand(&cobra.Command{Use: "check", Run: func(c *cobra.Command, _ []string) {
		c.OutOrStdout().Write([]byte("yes\n"))
	}})
	if root.Execute() != nil {
		os.Exit(1)
	}
}
