// Command teamlibs is the library floor (cobralibs) with the two libraries the team features are
// built on as well: pgx for the PostgreSQL audit trail and Prometheus' client_golang for the
// proxy's metrics. Both initialise packages at start (client_golang registers its Go and process
// collectors, its protobuf model registers descriptors; pgx's SASLprep tables), so every klrbac
// run pays for them, whichever command it runs.
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
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/olekukonko/tablewriter"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
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
