package audit

import (
	"net"
	"strings"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/mask"
)

// External is an action a script took outside klrbac, as `klrbac audit record` takes it; messages name
// that command's flags. What needs the policy or the catalog comes in as functions, since the trail
// sits below both.
type External struct {
	Action, Role, Resource, Endpoint, Reason, Fingerprint, IP string
	Failed                                                    bool
	// Own are the actions klrbac records itself: their namespaces are refused.
	Own []string
	// CheckRole refuses a Role the policy does not have.
	CheckRole func(role string) error
	// Call refuses an Endpoint that is no Klaviyo operation, and returns it as stored: "METHOD PATH"
	// without host or query string.
	Call func(endpoint string) (string, error)
	// ReadSecret, when set (--fingerprint-stdin), reads the key or token used, so that only its
	// fingerprint is kept and the secret is never in argv.
	ReadSecret func() (string, error)
}

// Entry checks the report and returns the entry to record. The secret is read last, so that a
// mistake in the rest costs no typing at a prompt.
func (r External) Entry() (Entry, error) {
	if r.Action == "" {
		return Entry{}, fault.Usagef("audit record needs --action").Hint("name what was done, such as --action profiles.delete")
	}
	if !validAction(r.Action) {
		return Entry{}, fault.Usagef("--action %q is not an action name", r.Action).
			Hint("use lowercase words joined by dots, such as profiles.delete")
	}
	if ns, ok := ownNamespace(r.Action, r.Own); ok {
		// An entry of another tool in klrbac's namespace would read exactly like one klrbac wrote
		// (a key stored, a login, a check), which the trail exists to tell apart.
		return Entry{}, fault.Usagef("refusing to record %s: actions in the %s namespace are klrbac's own", r.Action, ns).
			Hint("name the action in your own namespace, such as ops." + r.Action)
	}
	if r.Role != "" {
		if err := r.CheckRole(r.Role); err != nil {
			return Entry{}, err
		}
	}
	ip := ""
	if r.IP != "" {
		addr := net.ParseIP(r.IP)
		if addr == nil {
			return Entry{}, fault.Usagef("--ip %q is not an IP address", mask.InText(r.IP)).
				Hint("give an IPv4 or IPv6 address, such as 203.0.113.7 or 2001:db8::7, without a port")
		}
		ip = addr.String()
	}
	endpoint := ""
	if r.Endpoint != "" {
		var err error
		if endpoint, err = r.Call(r.Endpoint); err != nil {
			return Entry{}, err
		}
	}
	fingerprint, err := r.fingerprint()
	if err != nil {
		return Entry{}, err
	}
	// The caller's free text may carry a token or secret this process never held, so it gets the
	// stricter field mask; klrbac's own entries do not, since they quote hashes and paths on purpose.
	return Entry{Action: r.Action, Role: mask.InField(r.Role), Resource: mask.InField(r.Resource), Success: !r.Failed,
		Reason: mask.InField(r.Reason), Fingerprint: fingerprint, IPAddress: ip, KlaviyoEndpoint: mask.InField(endpoint)}, nil
}

// fingerprint is the fingerprint given, or that of the secret read (a hidden prompt on a terminal),
// so that the secret is not kept in memory longer than this.
func (r External) fingerprint() (string, error) {
	fp := r.Fingerprint
	if r.ReadSecret != nil {
		if fp != "" {
			return "", fault.Usagef("--fingerprint and --fingerprint-stdin exclude each other").Hint("give one of them")
		}
		secret, err := r.ReadSecret()
		if err != nil {
			return "", err
		}
		if fp = mask.Fingerprint(secret); fp == "" {
			return "", fault.Usagef("--fingerprint-stdin read nothing from standard input").
				Hint("pipe the key or token in, e.g. printenv KLAVIYO_KEY_MARKETER | klrbac audit record ... --fingerprint-stdin")
		}
	}
	if !isFingerprint(fp) {
		// The value is not repeated: what was given in its place may be the secret itself.
		return "", fault.Usagef("--fingerprint is not a fingerprint (8 lowercase hex digits)").
			Hint("give the fingerprint klrbac shows for the key (klrbac keys list), or pipe the secret to --fingerprint-stdin; a secret given on a command line stays in ps and shell history, so rotate it if that is what happened")
	}
	return fp, nil
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

// ownNamespace reports whether action is one of own or in one of their namespaces (the part before
// the first dot: audit, check, config, keys, oauth, proxy, ...), and names that namespace.
func ownNamespace(action string, own []string) (string, bool) {
	ns, _, _ := strings.Cut(action, ".")
	for _, o := range own {
		if o, _, _ := strings.Cut(o, "."); o == ns {
			return ns, true
		}
	}
	return "", false
}

// validAction reports whether s is lowercase words joined by dots, at most 64 characters.
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
