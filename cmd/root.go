// Package cmd holds klrbac's cobra commands. Each parses its flags, calls the internal packages with
// plain values and renders the result; exit codes are decided in one place (errors.go).
package cmd

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/suggest"
	"github.com/klrbac/klrbac/internal/ui"
)

// app carries what commands share. Everything costly is loaded on first use, so a command pays only
// for what it touches: `klrbac version` never reads a config file.
type app struct {
	io *ui.IO
	// configFile is --config; globals are the global flags, which override settings.
	configFile string
	globals    *pflag.FlagSet
	// started is set once cobra has parsed flags and arguments; an error before that is a usage error.
	started bool

	cfg    *config.Config
	cfgErr error
	loaded bool

	store secrets.Store
	audit *audit.Trail
}

func (a *app) config() (*config.Config, error) {
	if !a.loaded {
		a.cfg, a.cfgErr = config.Load(configOptions(a.configFile, a.globals))
		a.loaded = true
	}
	return a.cfg, a.cfgErr
}

// configOptions say where the configuration is (file: --config) and which global flags were given.
func configOptions(file string, globals *pflag.FlagSet) config.Options {
	opts := config.Options{File: file, Flags: map[string]string{}}
	if globals != nil {
		// Changed, not Visit: cobra parses a global flag into the subcommand's flag set, so the root
		// set's own record of what was set stays empty.
		globals.VisitAll(func(f *pflag.Flag) {
			if f.Changed {
				opts.Flags[f.Name] = f.Value.String()
			}
		})
	}
	return opts
}

func (a *app) policy() (*policy.Policy, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	return c.Policy, nil
}

// Execute runs klrbac with the process's arguments and streams and returns its exit code.
func Execute() int {
	return Run(context.Background(), os.Args[1:], ui.System())
}

// interruptible returns a context cancelled by Ctrl-C or SIGTERM, for commands that wait on the
// network, a browser or a file, so they can stop cleanly and exit 130. Short commands do not call it:
// the default signal action already ends them at once, and installing handlers costs start-up time.
func interruptible(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}

// Run runs klrbac with the given arguments and streams and returns its exit code. Everything it
// prints goes through the masker, whichever code path printed it (maskedStreams).
func Run(ctx context.Context, args []string, streams *ui.IO) int {
	a := &app{io: maskedStreams(streams)}
	root := newRootCommand(a, args)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && !a.started && fault.KindOf(err) == fault.Unclassified {
		err = usageError(err, root, args)
	}
	if err == nil && ctx.Err() != nil {
		err = context.Canceled
	}
	return a.report(err)
}

// maskedStreams returns streams with stdout and stderr masked (mask.Writer): a credential that
// reaches a message, a table or a JSON document by any path is shown as its mask. The two outputs
// that show a credential on purpose (`oauth token`, `sandbox --show-keys/--print-env`) write to
// unmasked(...) instead.
func maskedStreams(streams *ui.IO) *ui.IO {
	m := *streams
	m.Out, m.Err = mask.Writer(streams.Out), mask.Writer(streams.Err)
	return &m
}

// unmasked returns the writer under the masker, for output that is a credential by design.
func unmasked(w io.Writer) io.Writer {
	if u, ok := w.(interface{ Unwrap() io.Writer }); ok {
		return u.Unwrap()
	}
	return w
}

// NewRootCommand returns klrbac's whole command tree, for generating completions and man pages.
func NewRootCommand() *cobra.Command { return newRootCommand(&app{io: ui.System()}, nil) }

// topLevel lists the top-level commands with their names and aliases, so that a run naming one of
// them builds only that command: building the whole tree costs `klrbac check` a noticeable share of
// its run time. A test checks the names against the commands themselves.
var topLevel = []struct {
	names []string
	group string
	build func(*app) *cobra.Command
}{
	{[]string{"check"}, "policy", newCheckCommand},
	{[]string{"roles"}, "policy", newRolesCommand},
	{[]string{"permissions", "perms"}, "policy", newPermissionsCommand},
	{[]string{"who-can"}, "policy", newWhoCanCommand},
	{[]string{"scopes"}, "policy", newScopesCommand},
	{[]string{"keys"}, "admin", newKeysCommand},
	{[]string{"oauth"}, "admin", newOAuthCommand},
	{[]string{"doctor"}, "admin", newDoctorCommand},
	{[]string{"config"}, "admin", newConfigCommand},
	{[]string{"audit"}, "admin", newAuditCommand},
	{[]string{"sandbox"}, "admin", newSandboxCommand},
	{[]string{"proxy"}, "admin", newProxyCommand},
	{[]string{"version"}, "", newVersionCommand},
}

// newRootCommand builds the command tree for args: only the named top-level command when args start
// with one, else everything (help, completion, unknown commands and their suggestions need it all).
func newRootCommand(a *app, args []string) *cobra.Command {
	root := &cobra.Command{
		Use:   "klrbac",
		Short: "Role-based access control over Klaviyo",
		Long: `klrbac gives teams role-based access control over Klaviyo.

Klaviyo has no roles, only scoped private API keys and scoped OAuth apps. klrbac turns a
team's roles, permissions and Klaviyo scopes into something to list, query (klrbac check),
prove against the real keys, and audit. With no config file it uses a built-in reference
policy with the roles admin, marketer, developer, viewer and service.` + exitStatus(
			exitOK, exitFindings, exitUsage, exitUnavailable, exitInterrupted),
		SilenceUsage:  true,
		SilenceErrors: true,
		// Any non-empty Version gives the --version flag; the text is made only when it is printed
		// (the version template), since reading the build info costs every run.
		Version: "-",
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.started = true
			if noColor, _ := cmd.Flags().GetBool("no-color"); noColor {
				a.io.Color = false
			}
			return nil
		},
	}
	// Unknown commands get klrbac's own "did you mean" hint (usageError), like every other name.
	root.DisableSuggestions = true
	root.SetHelpCommand(newHelpCommand())
	root.SetIn(a.io.In)
	root.SetOut(a.io.Out)
	root.SetErr(a.io.Err)
	cobra.AddTemplateFunc("klrbacVersion", versionString)
	root.SetVersionTemplate("{{.Name}} {{klrbacVersion}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		e := fault.Wrap(fault.Usage, err)
		if strings.Contains(err.Error(), "shorthand flag: 'v'") {
			// -v means --version, at the root only; nowhere does it mean --verbose.
			e.Hint("-v is klrbac's --version; for more output use --verbose where a command has it")
		}
		return e.Hint("run '" + cmd.CommandPath() + " --help' for usage")
	})

	pf := root.PersistentFlags()
	pf.StringVar(&a.configFile, "config", "", "config file (default: $KLRBAC_CONFIG, ./klrbac.yaml, then $XDG_CONFIG_HOME/klrbac/config.yaml)")
	pf.String("api-url", "", "Klaviyo API base URL (env KLRBAC_API_URL)")
	pf.String("revision", "", "Klaviyo API revision (env KLRBAC_REVISION)")
	pf.String("audit-log", "", "audit log file (env KLRBAC_AUDIT_LOG)")
	pf.String("audit-dsn", "", "team audit trail in PostgreSQL: a postgres:// URL, without its password (env KLRBAC_AUDIT_DSN)")
	pf.Bool("no-color", false, "never colour output (also: NO_COLOR)")
	a.globals = pf
	_ = root.RegisterFlagCompletionFunc("config", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
	})

	root.AddGroup(
		&cobra.Group{ID: "policy", Title: "Policy:"},
		&cobra.Group{ID: "admin", Title: "Administration:"},
	)
	first := ""
	if len(args) > 0 {
		first = args[0]
	}
	only := -1
	for i, t := range topLevel {
		if slices.Contains(t.names, first) {
			only = i
		}
	}
	for i, t := range topLevel {
		if only >= 0 && i != only {
			continue
		}
		c := t.build(a)
		c.GroupID = t.group
		root.AddCommand(c)
	}
	if only < 0 {
		root.AddCommand(newExitCodesTopic())
		// cobra adds its completion command on Execute; adding it now lets its help carry the exit
		// codes like every other command's.
		root.InitDefaultCompletionCmd()
		for _, c := range root.Commands() {
			if c.Name() == "completion" {
				c.Long += exitStatus(exitOK, exitUsage)
				for _, sub := range c.Commands() {
					sub.Long += exitStatus(exitOK, exitUsage)
				}
			}
		}
	}
	guardGroups(root)
	return root
}

// maxListedCommands is the most subcommands an unknown-command error lists in full.
const maxListedCommands = 5

// guardGroups makes every command that only groups others (keys, roles, audit, ...) refuse an
// unknown subcommand with exit 2 and a suggestion. Left alone, cobra prints the group's help and
// exits 0, so a CI step with a typo such as `klrbac keys sett` would pass without doing anything.
func guardGroups(c *cobra.Command) {
	for _, sub := range c.Commands() {
		guardGroups(sub)
	}
	if !c.HasSubCommands() || c.Runnable() || c == c.Root() {
		return
	}
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		e := fault.Usagef("unknown command %q for %q", args[0], cmd.CommandPath())
		var names []string
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		close := suggest.Closest(args[0], names, 2)
		if len(names) > maxListedCommands {
			e.Hint(suggest.Hint(close))
			return e.Hint("run '" + cmd.CommandPath() + " --help' for its commands")
		}
		// A short list is shown whole, after the one close name if there is one: "did you mean
		// bash or fish?" for `completion tcsh` hid the other shells klrbac supports.
		if len(close) == 1 {
			e.Hint(suggest.Hint(close))
		}
		return e.Hint(cmd.CommandPath() + " takes one of: " + strings.Join(names, ", "))
	}
	c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// usageError classifies an error cobra raised before any command ran: an unknown command, a wrong
// number of arguments or a missing required flag.
func usageError(err error, root *cobra.Command, args []string) error {
	path := root.CommandPath()
	if c, _, ferr := root.Find(args); ferr == nil && c != nil {
		path = c.CommandPath()
	}
	var fe *fault.Error
	if errors.As(err, &fe) {
		return err
	}
	e := fault.Wrap(fault.Usage, err)
	if len(args) > 0 && strings.HasPrefix(err.Error(), "unknown command ") {
		e.Hint(suggest.Hint(suggest.Closest(args[0], commandNames(root), 2)))
	}
	return e.Hint("run '" + path + " --help' for usage")
}

// commandNames are the names of c's subcommands and topics that help lists.
func commandNames(c *cobra.Command) []string {
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() || sub.IsAdditionalHelpTopicCommand() {
			names = append(names, sub.Name())
		}
	}
	return names
}

// newHelpCommand replaces cobra's help command, which answers an unknown topic with the usage
// page and exit 0: `klrbac help exit-code` in a CI step would pass having shown nothing useful.
func newHelpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]...",
		Short: "Help about any command or topic",
		Long:  "Help shows the help of a command or topic, such as klrbac help keys validate or klrbac help exit-codes." + exitStatus(exitOK, exitUsage),
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil || cmd == nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			names := slices.DeleteFunc(commandNames(cmd), func(n string) bool { return !strings.HasPrefix(n, toComplete) })
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || cmd == nil || len(rest) > 0 && cmd.HasSubCommands() {
				parent := c.Root()
				if cmd != nil {
					parent = cmd
				}
				unknown := strings.Join(args, " ")
				if len(rest) > 0 {
					unknown = rest[0]
				}
				e := fault.Usagef("no help topic %q", strings.Join(args, " "))
				e.Hint(suggest.Hint(suggest.Closest(unknown, commandNames(parent), 2)))
				return e.Hint("run 'klrbac help' for the commands and topics")
			}
			cmd.InitDefaultHelpFlag()
			cmd.InitDefaultVersionFlag()
			return cmd.Help()
		},
	}
}
