package policy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// A role's detail adds what the policy makes of it, and keeps its lists [] in JSON.
func TestDetail(t *testing.T) {
	// A copy: Default is shared.
	own := *Default()
	p := &own
	p.Users = []User{{"alice", "viewer"}}
	p.index()
	v, _ := p.Role("viewer")
	d := p.Detail(v)
	if d.KeyEnv != "KLAVIYO_KEY_VIEWER" || !slices.Equal(d.Users, []string{"alice"}) || !slices.Equal(d.Scopes, p.RequiredScopes(v)) {
		t.Errorf("viewer: %+v", d)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"extra_scopes":[]`) {
		t.Errorf("no extra scopes as []: %s", b)
	}
}

func TestMatrix(t *testing.T) {
	m := Default().Matrix()
	if len(m.Roles) != 5 || len(m.Permissions) != 8 {
		t.Fatalf("%d roles, %d permissions", len(m.Roles), len(m.Permissions))
	}
	for role, row := range referenceTable {
		for i, held := range row {
			if m.Allowed[role][referencePermissions[i]] != held {
				t.Errorf("%s %s: %v, want %v", role, referencePermissions[i], m.Allowed[role][referencePermissions[i]], held)
			}
		}
	}
}

// Each permission lists the roles holding it, and no list is null in JSON.
func TestPermissionDetails(t *testing.T) {
	ds := Default().PermissionDetails()
	if len(ds) != len(referencePermissions) {
		t.Fatalf("%d permissions", len(ds))
	}
	for i, d := range ds {
		if d.Name != referencePermissions[i] || !slices.Equal(d.Scopes, referenceScopes[d.Name]) || d.Roles == nil {
			t.Errorf("%d: %+v", i, d)
		}
	}
	if d := ds[2]; d.Name != "canDeleteProfiles" || !slices.Equal(d.Roles, []string{"admin"}) {
		t.Errorf("canDeleteProfiles: %+v", d)
	}
}
