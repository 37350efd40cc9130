package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
)

func newCheckCommand(a *app) *cobra.Command {
	var q policy.Question
	var out outputFlag
	var quiet bool
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
			if len(args) == 0 && q.User == "" {
				return a.complete(roleNames)(cmd, args, prefix)
			}
			return a.complete(permissionNames)(cmd, args, prefix)
		},
		RunE: out.run(func(cmd *cobra.Command, f ui.Format, args []string) error {
			if q.User == "" {
				if len(args) == 0 {
					return fault.Usagef("check needs a ROLE (or --user USER)").Hint("usage: " + cmd.UseLine())
				}
				q.Role, args = args[0], args[1:]
			}
			q.Permissions = args
			if !q.List && len(q.Permissions) == 0 && len(q.Endpoints) == 0 {
				return fault.Usagef("check needs at least one PERMISSION, --endpoint or --list").Hint("usage: " + cmd.UseLine())
			}
			if q.List && (len(q.Permissions) > 0 || len(q.Endpoints) > 0) {
				return fault.Usagef("--list cannot be combined with permissions or --endpoint").Hint("run the two questions separately")
			}
			cfg, err := a.config()
			if err != nil {
				return err
			}
			answer, err := cfg.Policy.Ask(q)
			if err != nil {
				return err
			}
			if err := answer.Record(cmd.Context(), a.trail, a.io.Err, cfg.AuditChecks()); err != nil {
				return err
			}
			if !quiet {
				if err := renderCheck(a.io, answer, f, q.List); err != nil {
					return err
				}
			}
			if !answer.Allowed {
				return fault.Silent(fault.Findings)
			}
			return nil
		}),
	}
	c.Flags().StringVarP(&q.User, "user", "u", "", "resolve the role from this user's entry in the policy")
	c.Flags().StringArrayVarP(&q.Endpoints, "endpoint", "e", nil, `ask whether the role's scopes cover a Klaviyo call, "METHOD PATH" (repeatable)`)
	_ = c.RegisterFlagCompletionFunc("endpoint", func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		return completeCalls("", prefix), cobra.ShellCompDirectiveNoFileComp
	})
	c.Flags().BoolVarP(&q.List, "list", "l", false, "list the permissions the role holds")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing; answer with the exit code only")
	out.register(c, listFormats...)
	_ = c.RegisterFlagCompletionFunc("user", a.complete(userNames))
	return c
}

// renderCheck prints a check's answer: one line per question, or the permissions --list asks for.
func renderCheck(io *ui.IO, answer policy.Answer, f ui.Format, list bool) error {
	if f != ui.Table {
		return io.Encode(f, answer)
	}
	if list {
		for _, d := range answer.Decisions {
			fmt.Fprintln(io.Out, d.Permission)
		}
		return nil
	}
	prefix := len(answer.Decisions) > 1
	for _, d := range answer.Decisions {
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
