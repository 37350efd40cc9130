package ui

import (
	"bytes"
	"testing"

	"github.com/klrbac/klrbac/internal/sandbox"
)

// The URL comes first and alone, the readiness signal; an account without OAuth clients gets no
// empty table.
func TestSandboxListing(t *testing.T) {
	var out bytes.Buffer
	s := &IO{Out: &out}
	err := s.SandboxListing("http://127.0.0.1:8788", []sandbox.ListedKey{
		{Account: "AbC123", Name: "viewer", Value: "pk_****a1b2", Status: "active", Scopes: []string{"profiles:read", "metrics:read"}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "http://127.0.0.1:8788\n\nACCOUNT   KEY      VALUE         STATUS   SCOPES\nAbC123    viewer   pk_****a1b2   active   profiles:read, metrics:read\n"
	if out.String() != want {
		t.Errorf("got:\n%q\nwant:\n%q", out.String(), want)
	}
}
