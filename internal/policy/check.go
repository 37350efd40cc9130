package policy

import (
	"fmt"
	"strings"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/fault"
)

// Question is what `klrbac check` asks of the policy about a role, or a user's role: whether it
// holds permissions, whether its scopes cover Klaviyo calls, or (List) which permissions it holds.
type Question struct {
	Role, User  string
	Permissions []string
	// Endpoints are Klaviyo calls, "METHOD PATH".
	Endpoints []string
	List      bool
}

// Answer is what a check decided: the JSON and YAML shape of `check` (docs/schema/check.json).
type Answer struct {
	Role      string    `json:"role" yaml:"role"`
	User      string    `json:"user,omitempty" yaml:"user,omitempty"`
	Allowed   bool      `json:"allowed" yaml:"allowed"`
	Decisions []Verdict `json:"decisions" yaml:"decisions"`

	// listing marks the answer to a List question: it lists what the role holds and decides nothing,
	// so it is not recorded.
	listing bool
}

// Verdict answers one question of a check: a permission, or an operation with the scopes it lacks.
type Verdict struct {
	Permission string   `json:"permission,omitempty" yaml:"permission,omitempty"`
	Operation  string   `json:"operation,omitempty" yaml:"operation,omitempty"`
	Allowed    bool     `json:"allowed" yaml:"allowed"`
	Reason     string   `json:"reason" yaml:"reason"`
	Missing    []string `json:"missing_scopes,omitempty" yaml:"missing_scopes,omitempty"`
}

// Ask resolves the role and answers every question; unknown names are usage errors, raised before
// any answer is given, so that a typo never reads as a denial.
func (p *Policy) Ask(q Question) (Answer, error) {
	roleName := q.Role
	subject := ""
	if q.User != "" {
		u, err := p.LookupUser(q.User)
		if err != nil {
			return Answer{}, err
		}
		roleName, subject = u.Role, fmt.Sprintf("user %s (role %s)", u.Name, u.Role)
	}
	role, err := p.LookupRole(roleName)
	if err != nil {
		return Answer{}, err
	}
	if subject == "" {
		subject = "role " + role.Name
	}
	a := Answer{Role: role.Name, User: q.User, Allowed: true, Decisions: []Verdict{}}
	if q.List {
		a.listing = true
		for _, name := range role.Permissions {
			a.Decisions = append(a.Decisions, Verdict{Permission: name, Allowed: true, Reason: subject + " holds " + name})
		}
		return a, nil
	}
	for _, name := range q.Permissions {
		if _, err := p.LookupPermission(name); err != nil {
			return Answer{}, err
		}
		d := p.Decide(role, name)
		reason := subject + " holds " + name
		if !d.Allowed {
			reason = subject + " does not hold " + name
		}
		a.Decisions = append(a.Decisions, Verdict{Permission: name, Allowed: d.Allowed, Reason: reason})
	}
	for _, call := range q.Endpoints {
		op, _, err := catalog.LookupCall(call)
		if err != nil {
			return Answer{}, err
		}
		if op.PublicKey {
			return Answer{}, fault.Usagef("%s takes the public key, not a private key: roles' scopes do not apply", op).
				Hint("check /api/... operations; /client/... ones are open to anyone with the 6-character public key")
		}
		d := p.DecideOperation(role, op)
		reason := fmt.Sprintf("%s has %s", subject, strings.Join(d.Needs, ", "))
		if !d.Allowed {
			scopes := "scopes"
			if len(d.Missing) == 1 {
				scopes = "scope"
			}
			reason = fmt.Sprintf("%s lacks %s %s", subject, scopes, strings.Join(d.Missing, ", "))
		}
		a.Decisions = append(a.Decisions, Verdict{Operation: d.Operation, Allowed: d.Allowed, Reason: reason, Missing: d.Missing})
	}
	for _, d := range a.Decisions {
		a.Allowed = a.Allowed && d.Allowed
	}
	return a, nil
}
