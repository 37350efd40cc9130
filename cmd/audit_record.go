package cmd

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/ui"
)

func newAuditRecordCommand(a *app) *cobra.Command {
	// The flags fill in the action to record; the checks that need the policy and the catalog are
	// added when it runs.
	var x audit.External
	var fingerprintStdin bool
	var out outputFlag
	c := &cobra.Command{
		Use:   "record --action ACTION [flags]",
		Short: "Append an entry for an action taken outside klrbac",
		Long: `Append one entry to the audit trail, for actions your own scripts take with a role's key,
so that they sit in the same tamper-evident log as klrbac's and meet the same alert rules.
The entry's userId is the actor (KLRBAC_ACTOR, the CI identity, else the OS user).

--endpoint names the Klaviyo call made, "METHOD PATH"; it must be a Klaviyo operation,
and is stored without host or query string. Anything shaped like a private key in any
field is stored masked. Actions in klrbac's own namespaces (audit., check, config.,
keys., oauth., proxy.) are refused: name yours in a namespace of your own, such as
ops.keys.rotate.

--fingerprint takes the 8 lowercase hex digits klrbac shows for a key or token (keys
list). Never put the secret itself on a command line, where ps and shell history keep
it: pipe it to --fingerprint-stdin, which stores only its fingerprint. --ip takes an
IPv4 or IPv6 address.

Nothing is printed unless -o json or yaml asks for the entry as written.` + exitStatus(exitOK, exitUsage, exitUnavailable),
		Example: `  klrbac audit record --action profiles.delete --role admin \
      --endpoint "POST /api/data-privacy-deletion-jobs" --resource "profile 01HX..." --reason "GDPR request 4711"
  klrbac audit record --action campaigns.send --role marketer --resource "campaign 01HY" --failed --reason "429 throttled"
  printenv KLAVIYO_KEY_MARKETER | klrbac audit record --action lists.sync --role marketer --fingerprint-stdin`,
		Args: noArgs,
		RunE: out.run(func(cmd *cobra.Command, f ui.Format, _ []string) error {
			e, err := externalEntry(a, x, fingerprintStdin)
			if err != nil {
				return err
			}
			return runAuditRecord(cmd, a, e, f)
		}),
	}
	fl := c.Flags()
	fl.StringVarP(&x.Action, "action", "a", "", "what was done, e.g. profiles.delete (lowercase words joined by dots)")
	fl.StringVarP(&x.Role, "role", "r", "", "the role whose key or permission was used")
	fl.StringVar(&x.Resource, "resource", "", "what it was done to")
	fl.StringVarP(&x.Endpoint, "endpoint", "e", "", `the Klaviyo call made, "METHOD PATH"`)
	fl.BoolVar(&x.Failed, "failed", false, "the action failed or was refused (success: false)")
	fl.StringVar(&x.Reason, "reason", "", "why, or what came of it")
	fl.StringVar(&x.Fingerprint, "fingerprint", "", "fingerprint of the key or token used: 8 lowercase hex digits (never the secret itself)")
	fl.BoolVar(&fingerprintStdin, "fingerprint-stdin", false, "read the key or token used from standard input and store only its fingerprint")
	fl.StringVar(&x.IP, "ip", "", "the IP address the action came from")
	out.register(c, listFormats...)
	_ = c.RegisterFlagCompletionFunc("role", a.complete(roleNames))
	return c
}

// externalEntry checks the action the flags describe, against the policy's roles and the catalog,
// and returns the entry to record.
func externalEntry(a *app, x audit.External, fingerprintStdin bool) (audit.Entry, error) {
	x.Own = auditActions()
	x.CheckRole = func(role string) error {
		pol, err := a.policy()
		if err != nil {
			return err
		}
		_, err = pol.LookupRole(role)
		return err
	}
	x.Call = func(endpoint string) (string, error) {
		_, stored, err := catalog.LookupCall(endpoint)
		return stored, err
	}
	if fingerprintStdin {
		x.ReadSecret = func() (string, error) { return a.io.ReadSecret("Key or token to fingerprint (not stored): ") }
	}
	return x.Entry()
}

func runAuditRecord(cmd *cobra.Command, a *app, e audit.Entry, f ui.Format) error {
	t := a.trail()
	written, err := t.Record(cmd.Context(), e)
	var damaged *audit.DamagedError
	if errors.As(err, &damaged) {
		return t.Refuse("record "+e.Action, "", err)
	}
	if err != nil {
		return err
	}
	if f == ui.Table {
		return nil
	}
	return a.io.Encode(f, written[0].Fields())
}
