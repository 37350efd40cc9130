package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/yamlcheck"
)

// Rule is an alert rule. Every entry it matches is marked with its name (the entry's alert field) as
// it is written; if the rule has a command or a webhook, the entry is then sent there.
type Rule struct {
	Name string
	// Match lists alternatives: an entry matches the rule if it matches any of them.
	Match []Match
	// Command runs with the entry's JSON line on stdin; no shell is involved unless it names one.
	Command []string
	// Webhook receives the entry's JSON line in a POST.
	Webhook string
	// Timeout bounds a delivery (default DefaultAlertTimeout).
	Timeout time.Duration
}

// Match says which entries a rule is about. Patterns use * for any run of characters and ? for one
// character; a field left empty matches anything.
type Match struct {
	Action, Role, User, Resource, Endpoint []string
	// Success, if set, must equal the entry's success.
	Success *bool
}

// DefaultAlertTimeout bounds an alert delivery unless its rule says otherwise.
const DefaultAlertTimeout = 5 * time.Second

// DefaultRules are the alerts of the reference design, in force unless configured otherwise: any
// profile deletion (a recorded call to Klaviyo's deletion endpoint, or a profiles.delete action) and
// any denied check of canDeleteProfiles. They have no target until the config gives them one.
func DefaultRules() []Rule {
	no := false
	return []Rule{
		{Name: "profile-deletion", Match: []Match{
			{Endpoint: []string{"POST /api/data-privacy-deletion-jobs*"}},
			{Action: []string{"profiles.delete"}},
		}},
		{Name: "denied-profile-deletion", Match: []Match{
			{Action: []string{"check"}, Resource: []string{"canDeleteProfiles", "POST /api/data-privacy-deletion-jobs"}, Success: &no},
		}},
	}
}

// Matches reports whether the rule is about e. Entries recording a failed alert never match, so that
// an alert cannot trigger itself.
func (r Rule) Matches(e *Entry) bool {
	if e.Action == ActionAlertFailed {
		return false
	}
	for _, m := range r.Match {
		if m.matches(e) {
			return true
		}
	}
	return false
}

func (m Match) matches(e *Entry) bool {
	return anyGlob(m.Action, e.Action) && anyGlob(m.Role, e.Role) && anyGlob(m.User, e.UserID) &&
		anyGlob(m.Resource, e.Resource) && anyGlob(m.Endpoint, e.KlaviyoEndpoint) &&
		(m.Success == nil || *m.Success == e.Success)
}

func anyGlob(patterns []string, s string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if Glob(p, s) {
			return true
		}
	}
	return false
}

// Glob reports whether s matches pattern, where * stands for any run of characters (slashes and
// spaces included) and ? for any one character.
func Glob(pattern, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				_, size := utf8.DecodeRuneInString(s[sx:])
				px, sx = px+1, sx+size
				continue
			default:
				if c == s[sx] {
					px, sx = px+1, sx+1
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		px, sx = starP+1, starS
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// HasTarget reports whether the rule sends entries anywhere.
func (r Rule) HasTarget() bool { return len(r.Command) > 0 || r.Webhook != "" }

// Mark sets e's alert field to the names of the rules that match it, and returns those of them that
// have a target.
func Mark(rules []Rule, e *Entry) []Rule {
	var names []string
	var fire []Rule
	for _, r := range rules {
		if r.Matches(e) {
			names = append(names, r.Name)
			if r.HasTarget() {
				fire = append(fire, r)
			}
		}
	}
	e.Alert = strings.Join(names, ",")
	return fire
}

// Sender delivers alerts.
type Sender struct {
	// Client posts to webhooks (default: a plain http.Client; the rule's timeout applies).
	Client *http.Client
	// Env is the environment of alert commands (default: klrbac's own).
	Env []string
}

// Send delivers an entry's line to the rule's command and webhook, within the rule's timeout.
// Errors never include the webhook's URL beyond its host: such URLs often embed a token.
func (s Sender) Send(ctx context.Context, r Rule, line []byte) error {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultAlertTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	line = bytes.TrimSuffix(line, []byte{'\n'})
	var errs []error
	if len(r.Command) > 0 {
		if err := s.run(ctx, r, line); err != nil {
			errs = append(errs, err)
		}
	}
	if r.Webhook != "" {
		if err := s.post(ctx, r, line); err != nil {
			errs = append(errs, err)
		}
	}
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%w (timeout %s)", errors.Join(errs...), timeout)
	}
	return errors.Join(errs...)
}

func (s Sender) run(ctx context.Context, r Rule, line []byte) error {
	c := exec.CommandContext(ctx, r.Command[0], r.Command[1:]...)
	c.Stdin = bytes.NewReader(append(line, '\n'))
	env := s.Env
	if env == nil {
		env = os.Environ()
	}
	c.Env = append(slices.Clone(env), "KLRBAC_ALERT_RULE="+r.Name)
	var stderr tailBuffer
	c.Stderr = &stderr
	// A command that leaves children holding its output open must not hold klrbac up.
	c.WaitDelay = time.Second
	err := c.Run()
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf("command %s: %v", r.Command[0], err)
	if ctx.Err() == context.DeadlineExceeded {
		msg = fmt.Sprintf("command %s: did not finish in time", r.Command[0])
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		msg += ": " + s
	}
	return errors.New(msg)
}

func (s Sender) post(ctx context.Context, r Rule, line []byte) error {
	where := mask.URL(r.Webhook)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.Webhook, bytes.NewReader(line))
	if err != nil {
		return fmt.Errorf("webhook %s: invalid request", where)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "klrbac-audit-alert")
	client := s.Client
	if client == nil {
		client = &http.Client{}
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("webhook %s: no answer in time", where)
		}
		return fmt.Errorf("webhook %s: %v", where, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s: %s", where, resp.Status)
	}
	return nil
}

// tailBuffer keeps the last bytes written to it, for quoting a command's error output.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 400 {
		t.b = t.b[len(t.b)-400:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return strings.ToValidUTF8(string(t.b), "") }

// ruleKeys are the keys an alert rule may have.
var ruleKeys = []string{"name", "match", "command", "webhook", "timeout", "enabled"}

// matchKeys are the keys of a rule's match.
var matchKeys = []string{"action", "role", "user", "resource", "endpoint", "success"}

// Rules reads the alert rules of a config file's audit section (nil when the file has none) and
// merges them with DefaultRules: a rule named like a default one without a match of its own keeps
// the default's match (so a config can give a default rule a target), one with `enabled: false`
// turns it off. Every problem is reported with its file:line.
func Rules(file string, section *yaml.Node) ([]Rule, error) {
	rules := DefaultRules()
	alerts := yamlcheck.Lookup(section, "alerts")
	if alerts == nil {
		return rules, nil
	}
	ps := &yamlcheck.Problems{File: file}
	first := map[string]int{}
	for _, n := range ps.Sequence(alerts, "audit.alerts") {
		r, enabled, ok := rule(ps, n)
		if line, dup := first[r.Name]; r.Name != "" && dup {
			ps.Add(n, "give each rule its own name", "audit.alerts: rule %q is defined twice (first on line %d)", r.Name, line)
			continue
		}
		first[r.Name] = n.Line
		if !ok {
			continue
		}
		i := slices.IndexFunc(rules, func(d Rule) bool { return d.Name == r.Name })
		switch {
		case i >= 0 && !enabled:
			rules = slices.Delete(rules, i, i+1)
		case !enabled:
		case i >= 0:
			if r.Match == nil {
				r.Match = rules[i].Match
			}
			rules[i] = r
		case r.Match == nil:
			ps.Add(n, "add `match:` with action, role, user, resource, endpoint or success", "audit.alerts: rule %q has no match", r.Name)
		default:
			rules = append(rules, r)
		}
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return rules, nil
}

// rule reads one rule; ok is false when it has problems.
func rule(ps *yamlcheck.Problems, n *yaml.Node) (r Rule, enabled, ok bool) {
	enabled = true
	before := ps.Len()
	var nameNode *yaml.Node
	ps.Fields(n, "audit.alerts", ruleKeys, func(field string, _, v *yaml.Node) {
		switch field {
		case "name":
			nameNode = v
			if v.Kind != yaml.ScalarNode || !validRuleName(v.Value) {
				ps.Add(v, "use letters, digits, '-', '_' and '.'", "audit.alerts: invalid rule name %q", v.Value)
			}
			r.Name = v.Value
		case "match":
			r.Match = matches(ps, v)
		case "command":
			if v.Kind == yaml.ScalarNode {
				ps.Add(v, `give the command as a list: command: [notify-security, --team, sec]; for a shell, say so: command: [sh, -c, "..."]`,
					"audit.alerts: command must be a list of arguments")
				return
			}
			r.Command = stringList(ps, v, "audit.alerts command")
			if len(r.Command) == 0 || r.Command[0] == "" {
				ps.Add(v, "name the program to run first", "audit.alerts: command is empty")
			}
		case "webhook":
			u, err := url.Parse(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				ps.Add(v, "use an http:// or https:// URL", "audit.alerts: webhook is not an http(s) URL")
			}
			r.Webhook = v.Value
		case "timeout":
			d, err := time.ParseDuration(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || d <= 0 || d > 10*time.Minute {
				ps.Add(v, "use a duration such as 5s (at most 10m)", "audit.alerts: invalid timeout %q", v.Value)
			}
			r.Timeout = d
		case "enabled":
			enabled = ps.Bool(v, "audit.alerts enabled")
		}
	})
	if nameNode == nil && (n.Kind == yaml.MappingNode || yamlcheck.IsNull(n)) {
		ps.Add(n, "add `name: ...`; the name marks the entries the rule matches", "audit.alerts: a rule has no name")
	}
	return r, enabled, ps.Len() == before
}

func matches(ps *yamlcheck.Problems, v *yaml.Node) []Match {
	if v.Kind == yaml.SequenceNode {
		var out []Match
		for _, m := range v.Content {
			out = append(out, match(ps, m))
		}
		if len(out) == 0 {
			ps.Add(v, "list at least one match, or leave match out", "audit.alerts: match is an empty list")
		}
		return out
	}
	return []Match{match(ps, v)}
}

func match(ps *yamlcheck.Problems, v *yaml.Node) Match {
	var m Match
	ps.Fields(v, "audit.alerts match", matchKeys, func(field string, _, val *yaml.Node) {
		switch field {
		case "action":
			m.Action = patterns(ps, val, field)
		case "role":
			m.Role = patterns(ps, val, field)
		case "user":
			m.User = patterns(ps, val, field)
		case "resource":
			m.Resource = patterns(ps, val, field)
		case "endpoint":
			m.Endpoint = patterns(ps, val, field)
		case "success":
			b := ps.Bool(val, "audit.alerts match success")
			m.Success = &b
		}
	})
	if yamlcheck.IsNull(v) || v.Kind == yaml.MappingNode && len(v.Content) == 0 {
		ps.Add(v, "name at least one field to match", "audit.alerts: empty match")
	}
	return m
}

// patterns reads one pattern or a list of them.
func patterns(ps *yamlcheck.Problems, v *yaml.Node, field string) []string {
	what := "audit.alerts match " + field
	if v.Kind == yaml.ScalarNode {
		return []string{ps.String(v, what)}
	}
	// An empty list would leave the field unconstrained: the rule would match every entry.
	if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
		ps.Add(v, "list at least one pattern, or leave "+field+" out to match any", "audit.alerts: %s is an empty list", field)
		return nil
	}
	return stringList(ps, v, what)
}

// stringList reads a list of strings that may repeat, such as a command's arguments.
func stringList(ps *yamlcheck.Problems, v *yaml.Node, what string) []string {
	items := ps.Sequence(v, what)
	out := make([]string, 0, len(items))
	for _, item := range items {
		out = append(out, ps.String(item, what))
	}
	return out
}

func validRuleName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
