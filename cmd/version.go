package cmd

import (
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/ui"
)

// version and commit are set by the Makefile's -ldflags -X; a plain `go install` falls back to the
// module's build info.
var (
	version = ""
	commit  = ""
)

// versionInfo is the JSON and YAML shape of `klrbac version`.
type versionInfo struct {
	Version     string `json:"version" yaml:"version"`
	Commit      string `json:"commit" yaml:"commit"`
	GoVersion   string `json:"go_version" yaml:"go_version"`
	Platform    string `json:"platform" yaml:"platform"`
	APIRevision string `json:"catalog_revision" yaml:"catalog_revision"`
}

func buildVersion() versionInfo {
	v := versionInfo{Version: version, Commit: commit, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, APIRevision: catalog.SpecRevision}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && info.Main.Version != "" {
			v.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && v.Commit == "" {
				v.Commit = s.Value
			}
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	if len(v.Commit) > 12 {
		v.Commit = v.Commit[:12]
	}
	return v
}

func versionString() string {
	v := buildVersion()
	return v.Version + " (commit " + v.Commit + ", " + v.GoVersion + " " + v.Platform + ", catalog " + v.APIRevision + ")"
}

func newVersionCommand(a *app) *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:   "version",
		Short: "Print klrbac's version, commit and Go version",
		Long:  "Print klrbac's version, the commit it was built from, the Go version and the Klaviyo spec revision of its catalog." + exitStatus(exitOK, exitUsage),
		Args:  noArgs,
		RunE: out.run(func(cmd *cobra.Command, f ui.Format, _ []string) error {
			if f != ui.Table {
				return a.io.Encode(f, buildVersion())
			}
			_, err := a.io.Out.Write([]byte("klrbac " + versionString() + "\n"))
			return err
		}),
	}
	out.register(c, listFormats...)
	return c
}
