// Command cobralibs is the library floor: the cobra baseline linked with the libraries klrbac is
// built on, the standard library's heavier packages among them (net/http, html/template), whose
// package initialisation and size every klrbac run pays before main starts.
package main

import (
	_ "encoding/json"
	_ "html/template"
	_ "log/slog"
	_ "net/http"
	"os"
	_ "os/user"
	_ "regexp"

	_ "github.com/cli/browser"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/gofrs/flock"
	_ "github.com/olekukonko/tablewriter"
	"github.com/spf13/cobra"
	_ "github.com/spf13/viper"
	_ "github.com/zalando/go-keyring"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/oauth2"
	_ "golang.org/x/term"
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
