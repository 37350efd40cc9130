package cmd

import (
	"fmt"

	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/spf13/cobra"
)

// configPathView is the JSON and YAML shape of `config path`.
type configPathView struct {
	File     string   `json:"file" yaml:"file"`
	Explicit bool     `json:"explicit" yaml:"explicit"`
	Searched []string `json:"searched" yaml:"searched"`
}

func newConfigPathCommand(a *app) *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:   "path",
		Short: "Print the config file klrbac reads",
		Long: `Print the path of the config file klrbac reads. When there is none, print nothing on
stdout and say on stderr where klrbac looked.` + exitStatus(exitOK, exitUsage),
		Args: noArgs,
		RunE: out.run(func(cmd *cobra.Command, f ui.Format, _ []string) error {
			paths, explicit := config.Candidates(configOptions(a.configFile, a.globals))
			file, err := config.Find(configOptions(a.configFile, a.globals))
			if err != nil {
				return err
			}
			if f != ui.Table {
				return a.io.Encode(f, configPathView{File: file, Explicit: explicit, Searched: paths})
			}
			if file == "" {
				fmt.Fprintf(a.io.Err, "no config file found (searched %s); the embedded default policy applies\n", ui.JoinOrDash(paths))
				return nil
			}
			fmt.Fprintln(a.io.Out, file)
			return nil
		}),
	}
	out.register(c, listFormats...)
	return c
}
