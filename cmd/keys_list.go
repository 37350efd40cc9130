package cmd

import (
	"context"
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/ui"
)

// keyView is the JSON and YAML shape of one role in `keys list` (documented in docs/json-output.md).
type keyView struct {
	Role string `json:"role" yaml:"role"`
	// Source is env, keyring, none, or unknown when the keyring could not be read.
	Source      string `json:"source" yaml:"source"`
	Env         string `json:"env" yaml:"env"`
	Key         string `json:"key" yaml:"key"`
	Fingerprint string `json:"fingerprint" yaml:"fingerprint"`
	AccountID   string `json:"account_id" yaml:"account_id"`
	Problem     string `json:"problem,omitempty" yaml:"problem,omitempty"`
}

func newKeysListCommand(a *app) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "Show where each role's key comes from, masked",
		Long: `Show, for every role of the policy, where its key comes from (the role's variable, the
keyring, or none), the key masked as pk_****a1b2, its fingerprint (the first 8 hex digits
of its SHA-256) and the account id newer keys carry. Keys are not sent anywhere: use
klrbac doctor --online to have Klaviyo check them.

A role's variable beats the keyring, so a role whose variable is set shows "env" even
when the keyring holds a key for it too. Roles without a key are listed too; that is no
error. When the keyring cannot be read, those roles show "unknown" and klrbac exits 3.` + exitStatus(
			exitOK, exitUsage, exitUnavailable),
		Example: "  klrbac keys list\n  klrbac keys list -o json | jq -r '.[] | select(.source == \"none\") | .role'",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := outputFormat(output, listFormats...)
			if err != nil {
				return err
			}
			pol, err := a.policy()
			if err != nil {
				return err
			}
			store, err := a.secrets()
			if err != nil {
				return err
			}
			return runKeysList(cmd.Context(), a.io, store, pol, os.Getenv, f)
		},
	}
	addOutputFlag(c, &output, listFormats...)
	return c
}

func runKeysList(ctx context.Context, io *ui.IO, store secrets.Store, pol *policy.Policy, getenv func(string) string, f ui.Format) error {
	keys := secrets.RoleKeys(ctx, store, pol.Roles, getenv, false)
	views := make([]keyView, len(keys))
	var unreadable error
	var problems []error
	for i, k := range keys {
		v := keyView{Role: k.Role, Source: string(k.Source.Kind), Env: k.Env, Key: k.Key.Masked(),
			Fingerprint: k.Key.Fingerprint(), AccountID: k.AccountID}
		switch {
		case k.Err != nil && k.Source.Kind == "":
			v.Source, v.Problem = "unknown", "the keyring could not be read"
			if unreadable == nil {
				unreadable = keyringUnreadable(k.Err)
			}
		case k.Err != nil:
			v.Problem = k.Err.Error()
			problems = append(problems, k.Err)
		case k.Source.Kind == "":
			v.Source = "none"
		}
		views[i] = v
	}
	if f != ui.Table {
		if err := io.Encode(f, views); err != nil {
			return err
		}
	} else {
		rows := make([][]string, len(views))
		for i, v := range views {
			source := v.Source
			if v.Source == string(secrets.FromEnv) {
				source = keys[i].Source.String()
			}
			if v.Problem != "" && v.Source != "unknown" {
				source += " (invalid)"
			}
			rows[i] = []string{v.Role, source, orDash(v.Key), orDash(v.Fingerprint), orDash(v.AccountID)}
		}
		if err := io.Table([]string{"ROLE", "SOURCE", "KEY", "FINGERPRINT", "ACCOUNT"}, rows); err != nil {
			return err
		}
	}
	for _, p := range problems {
		showProblem(io, p)
	}
	return unreadable
}

// orDash shows an empty value as "-" in a table.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// keyringUnreadable reports a keyring failure once for the whole listing, rather than per role.
func keyringUnreadable(err error) error {
	var ke *secrets.Error
	if !errors.As(err, &ke) {
		return err
	}
	return fault.Unavailablef("cannot read the keyring: %s", ke.Reason()).Hint(ke.Advice("the roles' KLAVIYO_KEY_* variables"))
}
