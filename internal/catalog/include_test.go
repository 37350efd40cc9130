package catalog

import (
	"errors"
	"net/url"
	"slices"
	"testing"
)

func TestCallScopesCountsIncludedResources(t *testing.T) {
	op, ok := Find("GET", "/api/profiles")
	if !ok {
		t.Fatal("GET /api/profiles not in the catalog")
	}
	cases := []struct {
		query string
		want  []string
	}{
		{"", []string{"profiles:read"}},
		{"include=push-tokens", []string{"profiles:read", "push-tokens:read"}},
		{"include=push-tokens,conversations", []string{"conversations:read", "profiles:read", "push-tokens:read"}},
		{"page%5Bsize%5D=5", []string{"profiles:read"}},
	}
	for _, c := range cases {
		q, _ := url.ParseQuery(c.query)
		got, err := CallScopes(op, q)
		if err != nil {
			t.Fatalf("%q: %v", c.query, err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: scopes %v, want %v", c.query, got, c.want)
		}
	}
}

func TestCallScopesRefusesWhatItCannotCount(t *testing.T) {
	op, _ := Find("GET", "/api/profiles")
	for _, query := range []string{"include=lists", "include=nonsense", "include=push-tokens&include=conversations", "include="} {
		q, _ := url.ParseQuery(query)
		_, err := CallScopes(op, q)
		var ie *IncludeError
		if !errors.As(err, &ie) {
			t.Errorf("%q: error %v, want an IncludeError", query, err)
		}
	}
}

// Every include value any operation allows must have scopes, or a call with it could never be decided.
func TestEveryAllowedIncludeHasScopes(t *testing.T) {
	n := 0
	for _, op := range Operations() {
		for _, v := range op.Includes {
			n++
			if s, ok := IncludeScopes(v); !ok || len(s) == 0 {
				t.Errorf("%s: include %q has no scopes", op, v)
			}
		}
	}
	if n == 0 {
		t.Fatal("no operation allows include=: the generator lost them")
	}
}
