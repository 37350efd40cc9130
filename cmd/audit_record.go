package cmd

import (
	"errors"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/ui"
)

type auditRecordOptions struct {
	action, role, resource, endpoint string
	reason, fingerprint, ip          string
	fingerprintStdin                 bool
	failed                           bool
}

func newAuditRecordCommand(a *app) *cobra.Command {
	var opts auditRecordOptions
	var output string
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
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := outputFormat(output, listFormats...)
			if err != nil {
				return err
			}
			e, err := opts.entry(a)
			if err != nil {
				return err
			}
			return runAuditRecord(cmd, a, e, f)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&opts.action, "action", "a", "", "what was done, e.g. profiles.delete (lowercase words joined by dots)")
	fl.StringVarP(&opts.role, "role", "r", "", "the role whose key or permission was used")
	fl.StringVar(&opts.resource, "resource", "", "what it was done to")
	fl.StringVarP(&opts.endpoint, "endpoint", "e", "", `the Klaviyo call made, "METHOD PATH"`)
	fl.BoolVar(&opts.failed, "failed", false, "the action failed or was refused (success: false)")
	fl.StringVar(&opts.reason, "reason", "", "why, or what came of it")
	fl.StringVar(&opts.fingerprint, "fingerprint", "", "fingerprint of the key or token used: 8 lowercase hex digits (never the secret itself)")
	fl.BoolVar(&opts.fingerprintStdin, "fingerprint-stdin", false, "read the key or token used from standard input and store only its fingerprint")
	fl.StringVar(&opts.ip, "ip", "", "the IP address the action came from")
	addOutputFlag(c, &output, listFormats...)
	_ = c.RegisterFlagCompletionFunc("role", a.complete(roleNames))
	return c
}

func (o auditRecordOptions) entry(a *app) (audit.Entry, error) {
	if o.action == "" {
		return audit.Entry{}, fault.Usagef("audit record needs --action").Hint("name what was done, such as --action profiles.delete")
	}
	if !validAction(o.action) {
		return audit.Entry{}, fault.Usagef("--action %q is not an action name", o.action).
			Hint("use lowercase words joined by dots, such as profiles.delete")
	}
	if ns, ok := klrbacNamespace(o.action); ok {
		// An entry of another tool in klrbac's namespace would read exactly like one klrbac wrote
		// (a key stored, a login, a check), which the trail exists to tell apart.
		return audit.Entry{}, fault.Usagef("refusing to record %s: actions in the %s namespace are klrbac's own", o.action, ns).
			Hint("name the action in your own namespace, such as " + ownNamespaceExample(o.action))
	}
	if o.role != "" {
		pol, err := a.policy()
		if err != nil {
			return audit.Entry{}, err
		}
		if _, err := pol.LookupRole(o.role); err != nil {
			return audit.Entry{}, err
		}
	}
	ip := ""
	if o.ip != "" {
		addr := net.ParseIP(o.ip)
		if addr == nil {
			return audit.Entry{}, fault.Usagef("--ip %q is not an IP address", mask.InText(o.ip)).
				Hint("give an IPv4 or IPv6 address, such as 203.0.113.7 or 2001:db8::7, without a port")
		}
		ip = addr.String()
	}
	endpoint := ""
	if o.endpoint != "" {
		method, path, err := splitCall([]string{o.endpoint})
		if err != nil {
			return audit.Entry{}, err
		}
		if _, err := findOperation(method, path); err != nil {
			return audit.Entry{}, err
		}
		endpoint = method + " " + catalog.NormalizePath(path)
	}
	// Read last, so that a mistake in the other flags costs no typing at a prompt.
	if err := o.readFingerprint(a.io); err != nil {
		return audit.Entry{}, err
	}
	if !isFingerprint(o.fingerprint) {
		// The value is not repeated: what was given in its place may be the secret itself.
		return audit.Entry{}, fault.Usagef("--fingerprint is not a fingerprint (8 lowercase hex digits)").
			Hint("give the fingerprint klrbac shows for the key (klrbac keys list), or pipe the secret to --fingerprint-stdin; a secret given on a command line stays in ps and shell history, so rotate it if that is what happened")
	}
	// The caller's free text may carry a token or secret this process never held, so it gets the
	// stricter field mask; klrbac's own entries do not, since they quote hashes and paths on purpose.
	e := audit.Entry{Action: o.action, Role: mask.InField(o.role), Resource: mask.InField(o.resource), Success: !o.failed,
		Reason: mask.InField(o.reason), Fingerprint: o.fingerprint, IPAddress: ip, KlaviyoEndpoint: mask.InField(endpoint)}
	return e, nil
}

// readFingerprint replaces --fingerprint-stdin with the fingerprint of the secret read from standard
// input (a hidden prompt on a terminal), so that the secret is never in argv nor kept in memory
// longer than this.
func (o *auditRecordOptions) readFingerprint(io *ui.IO) error {
	if !o.fingerprintStdin {
		return nil
	}
	if o.fingerprint != "" {
		return fault.Usagef("--fingerprint and --fingerprint-stdin exclude each other").Hint("give one of them")
	}
	secret, err := io.ReadSecret("Key or token to fingerprint (not stored): ")
	if err != nil {
		return err
	}
	o.fingerprint = mask.Fingerprint(secret)
	if o.fingerprint == "" {
		return fault.Usagef("--fingerprint-stdin read nothing from standard input").
			Hint("pipe the key or token in, e.g. printenv KLAVIYO_KEY_MARKETER | klrbac audit record ... --fingerprint-stdin")
	}
	return nil
}

// isFingerprint reports whether s is empty or has the form of mask.Fingerprint: 8 lowercase hex digits.
func isFingerprint(s string) bool {
	if s == "" {
		return true
	}
	if len(s) != 8 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// klrbacNamespace reports whether action is one of klrbac's own or in one of their namespaces (the
// part before the first dot: audit, check, config, keys, oauth, proxy, ...), and names that namespace.
func klrbacNamespace(action string) (string, bool) {
	ns, _, _ := strings.Cut(action, ".")
	for _, own := range auditActions {
		if o, _, _ := strings.Cut(own, "."); o == ns {
			return ns, true
		}
	}
	return "", false
}

// ownNamespaceExample suggests a name for action outside klrbac's namespaces.
func ownNamespaceExample(action string) string {
	return "ops." + action
}

func validAction(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
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
	return a.io.Encode(f, entryView(written[0]))
}

// entryJSON is an entry's shape in -o json and yaml: the line's fields, as stored.
type entryJSON struct {
	Seq             uint64 `json:"seq" yaml:"seq"`
	Timestamp       string `json:"timestamp" yaml:"timestamp"`
	UserID          string `json:"userId" yaml:"userId"`
	Role            string `json:"role" yaml:"role"`
	Action          string `json:"action" yaml:"action"`
	Resource        string `json:"resource" yaml:"resource"`
	Success         bool   `json:"success" yaml:"success"`
	KlaviyoEndpoint string `json:"klaviyoEndpoint" yaml:"klaviyoEndpoint"`
	IPAddress       string `json:"ipAddress" yaml:"ipAddress"`
	Fingerprint     string `json:"fingerprint" yaml:"fingerprint"`
	Reason          string `json:"reason" yaml:"reason"`
	Host            string `json:"host" yaml:"host"`
	Alert           string `json:"alert" yaml:"alert"`
	Prev            string `json:"prev" yaml:"prev"`
	Hash            string `json:"hash" yaml:"hash"`
}

func entryView(e audit.Entry) entryJSON {
	return entryJSON{e.Seq, e.Timestamp.Format(audit.TimeLayout), e.UserID, e.Role, e.Action, e.Resource, e.Success,
		e.KlaviyoEndpoint, e.IPAddress, e.Fingerprint, e.Reason, e.Host, e.Alert, e.Prev, e.Hash}
}
