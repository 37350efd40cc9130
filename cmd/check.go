package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
)

type checkOptions struct {
	role        string
	user        string
	permissions []string
	endpoints   []string
	list        bool
	quiet       bool
	format      ui.Format
}

func newCheckCommand(a *app) *cobra.Command {
	var opts checkOptions
	var output string
	c := &cobra.Command{
		Use:   "check ROLE PERMISSION...",
		Short: "Answer whether a role may use permissions or call Klaviyo endpoints",
		Long: `Answer whether a role holds permissions, one line per question: "yes", or "no - " and the
reason. With several questions each line starts with the question.

--user resolves the role from the policy's users, --endpoint asks whether the role's
scopes cover a Klaviyo call (naming the scopes missing), and --list prints the
permissions the role holds.

Each decision is recorded in the audit trail (audit.checks: all, denied or none;
KLRBAC_AUDIT_CHECKS); --list is not. A check changes nothing, so when its record cannot
be written klrbac warns on stderr and still answers, with the usual exit status.` + exitStatus(exitOK, exitFindings, exitUsage),
		Example: `  klrbac check marketer canSendCampaigns
  klrbac check viewer canReadProfiles canDeleteProfiles
  klrbac check --user alice@example.com canManageLists
  klrbac check service --endpoint "POST /api/events"
  klrbac check developer --list
  if klrbac check -q "$ROLE" canDeleteProfiles; then ...; fi`,
		ValidArgsFunction: func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 && opts.user == "" {
				return a.complete(roleNames)(cmd, args, prefix)
			}
			return a.complete(permissionNames)(cmd, args, prefix)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := outputFormat(output, listFormats...)
			if err != nil {
				return err
			}
			opts.format = f
			if opts.user == "" {
				if len(args) == 0 {
					return fault.Usagef("check needs a ROLE (or --user USER)").Hint("usage: " + cmd.UseLine())
				}
				opts.role, args = args[0], args[1:]
			}
			opts.permissions = args
			if !opts.list && len(opts.permissions) == 0 && len(opts.endpoints) == 0 {
				return fault.Usagef("check needs at least one PERMISSION, --endpoint or --list").Hint("usage: " + cmd.UseLine())
			}
			if opts.list && (len(opts.permissions) > 0 || len(opts.endpoints) > 0) {
				return fault.Usagef("--list cannot be combined with permissions or --endpoint").Hint("run the two questions separately")
			}
			cfg, err := a.config()
			if err != nil {
				return err
			}
			return runCheck(a.io, cfg.Policy, opts, func(res checkResult) error {
				return res.view.Record(cmd.Context(), a.trail(), a.io.Err, cfg.AuditChecks())
			})
		},
	}
	c.Flags().StringVarP(&opts.user, "user", "u", "", "resolve the role from this user's entry in the policy")
	c.Flags().StringArrayVarP(&opts.endpoints, "endpoint", "e", nil, `ask whether the role's scopes cover a Klaviyo call, "METHOD PATH" (repeatable)`)
	_ = c.RegisterFlagCompletionFunc("endpoint", func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		return completeCalls("", prefix), cobra.ShellCompDirectiveNoFileComp
	})
	c.Flags().BoolVarP(&opts.list, "list", "l", false, "list the permissions the role holds")
	c.Flags().BoolVarP(&opts.quiet, "quiet", "q", false, "print nothing; answer with the exit code only")
	addOutputFlag(c, &output, listFormats...)
	_ = c.RegisterFlagCompletionFunc("user", a.complete(userNames))
	return c
}

// checkResult is what a check decided, for rendering and for the audit trail.
type checkResult struct {
	view policy.Answer
}

// runCheck decides, has the decisions audited (record may be nil), and answers.
func runCheck(io *ui.IO, pol *policy.Policy, opts checkOptions, record func(checkResult) error) error {
	answer, err := pol.Ask(policy.Question{Role: opts.role, User: opts.user, Permissions: opts.permissions,
		Endpoints: opts.endpoints, List: opts.list})
	if err != nil {
		return err
	}
	res := checkResult{view: answer}
	if record != nil {
		if err := record(res); err != nil {
			return err
		}
	}
	if err := renderCheck(io, res, opts); err != nil {
		return err
	}
	if !res.view.Allowed {
		return fault.Silent(fault.Findings)
	}
	return nil
}

func renderCheck(io *ui.IO, res checkResult, opts checkOptions) error {
	if opts.quiet {
		return nil
	}
	if opts.format != ui.Table {
		return io.Encode(opts.format, res.view)
	}
	if opts.list {
		for _, d := range res.view.Decisions {
			fmt.Fprintln(io.Out, d.Permission)
		}
		return nil
	}
	prefix := len(res.view.Decisions) > 1
	for _, d := range res.view.Decisions {
		line := "yes"
		if !d.Allowed {
			line = "no - " + d.Reason
		}
		if prefix {
			q := d.Permission
			if q == "" {
				q = d.Operation
			}
			line = q + ": " + line
		}
		fmt.Fprintln(io.Out, line)
	}
	return nil
}
