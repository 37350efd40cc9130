package ui

import (
	"bytes"
	"testing"

	"github.com/klrbac/klrbac/internal/doctor"
)

func TestDoctorChecks(t *testing.T) {
	var out bytes.Buffer
	s := &IO{Out: &out}
	s.DoctorChecks([]doctor.Check{
		{Name: "config", OK: true, Detail: "no config file; the built-in policy applies", Fix: "unused"},
		{Name: "keyring", Detail: "locked", Fix: "unlock it"},
	})
	want := "yes config: no config file; the built-in policy applies\nno  keyring: locked; fix: unlock it\n"
	if out.String() != want {
		t.Errorf("got:\n%q\nwant:\n%q", out.String(), want)
	}
}
