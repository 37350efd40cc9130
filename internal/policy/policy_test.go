package policy

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/catalog"
)

// The reference design's table, written out independently of default.yaml so that a change to
// either is caught.
var referenceTable = map[string][]bool{
	//           Read   Write  Delete Send   Lists  Track  Reports Webhooks
	"admin":     {true, true, true, true, true, true, true, true},
	"marketer":  {true, false, false, true, true, false, true, false},
	"developer": {true, true, false, false, true, true, true, true},
	"viewer":    {true, false, false, false, false, false, true, false},
	"service":   {true, true, false, false, false, true, false, false},
}

var referencePermissions = []string{
	"canReadProfiles", "canWriteProfiles", "canDeleteProfiles", "canSendCampaigns",
	"canManageLists", "canTrackEvents", "canViewReports", "canManageWebhooks",
}

var referenceScopes = map[string][]string{
	"canReadProfiles":   {"profiles:read"},
	"canWriteProfiles":  {"profiles:write"},
	"canDeleteProfiles": {"data-privacy:write"},
	"canSendCampaigns":  {"campaigns:read", "campaigns:write"},
	"canManageLists":    {"lists:read", "lists:write"},
	"canTrackEvents":    {"events:write"},
	"canViewReports":    {"campaigns:read", "metrics:read", "segments:read"},
	"canManageWebhooks": {"webhooks:read", "webhooks:write"},
}

func TestDefaultPolicyMatchesReferenceDesign(t *testing.T) {
	p := Default()
	if got := p.PermissionNames(); !slices.Equal(got, referencePermissions) {
		t.Fatalf("permissions = %v, want %v", got, referencePermissions)
	}
	if got, want := p.RoleNames(), []string{"admin", "marketer", "developer", "viewer", "service"}; !slices.Equal(got, want) {
		t.Fatalf("roles = %v, want %v", got, want)
	}
	for role, row := range referenceTable {
		r, ok := p.Role(role)
		if !ok {
			t.Fatalf("role %s missing", role)
		}
		for i, perm := range referencePermissions {
			if d := p.Decide(r, perm); d.Allowed != row[i] {
				t.Errorf("%s × %s: allowed=%v, want %v (%s)", role, perm, d.Allowed, row[i], d.Reason)
			}
		}
	}
	for perm, scopes := range referenceScopes {
		got, _ := p.Permission(perm)
		if !slices.Equal(got.Scopes, scopes) {
			t.Errorf("%s scopes = %v, want %v", perm, got.Scopes, scopes)
		}
	}
	admin, _ := p.Role("admin")
	if !admin.FullAccess {
		t.Error("admin must expect a full-access key")
	}
}

func TestRequiredScopesIsUnionOfPermissions(t *testing.T) {
	p := Default()
	for role, row := range referenceTable {
		want := map[string]bool{}
		for i, perm := range referencePermissions {
			if row[i] {
				for _, s := range referenceScopes[perm] {
					want[s] = true
				}
			}
		}
		r, _ := p.Role(role)
		got := p.RequiredScopes(r)
		if len(got) != len(want) || !slices.IsSorted(got) {
			t.Errorf("%s: required %v, want the sorted union %v", role, got, want)
		}
		for _, s := range got {
			if !want[s] {
				t.Errorf("%s: unexpected scope %s", role, s)
			}
		}
	}
}

func TestCompiledDefaultMatchesYAML(t *testing.T) {
	parsed, err := ParseDefault()
	if err != nil {
		t.Fatal(err)
	}
	compiled := Default()
	if !reflect.DeepEqual(parsed.Permissions, compiled.Permissions) || !reflect.DeepEqual(parsed.Users, compiled.Users) {
		t.Fatal("default_gen.go is stale: run `make generate`")
	}
	for i := range parsed.Roles {
		a, b := parsed.Roles[i], compiled.Roles[i]
		if a.Name != b.Name || a.Description != b.Description || !slices.Equal(a.Permissions, b.Permissions) ||
			!slices.Equal(a.ExtraScopes, b.ExtraScopes) || a.KeyEnv != b.KeyEnv || a.FullAccess != b.FullAccess {
			t.Fatalf("role %s differs between default.yaml and default_gen.go: run `make generate`", a.Name)
		}
	}
}

func TestEveryDefaultScopeIsKnownToKlaviyo(t *testing.T) {
	for _, perm := range Default().Permissions {
		for _, s := range perm.Scopes {
			if !catalog.IsAssignable(s) {
				t.Errorf("%s needs %s, which no Klaviyo key can hold", perm.Name, s)
			}
			if len(catalog.OperationsNeeding(s)) == 0 {
				t.Errorf("%s needs %s, which no stable operation uses", perm.Name, s)
			}
		}
	}
}

func TestDecideOperation(t *testing.T) {
	p := Default()
	op, ok := catalog.Find("POST", "/api/data-privacy-deletion-jobs")
	if !ok {
		t.Fatal("deletion job operation missing from the catalog")
	}
	for _, tc := range []struct {
		role    string
		allowed bool
	}{{"admin", true}, {"marketer", false}, {"developer", false}, {"viewer", false}, {"service", false}} {
		r, _ := p.Role(tc.role)
		d := p.DecideOperation(r, op)
		if d.Allowed != tc.allowed {
			t.Errorf("%s: allowed=%v, want %v", tc.role, d.Allowed, tc.allowed)
		}
		if !tc.allowed && !slices.Equal(d.Missing, []string{"data-privacy:write"}) {
			t.Errorf("%s: missing %v, want [data-privacy:write]", tc.role, d.Missing)
		}
	}
}

func TestRolesAllowed(t *testing.T) {
	p := Default()
	op, ok := catalog.Find("POST", "/api/data-privacy-deletion-jobs")
	if !ok {
		t.Fatal("deletion job operation missing from the catalog")
	}
	if got := p.RolesAllowed(op); !slices.Equal(got, []string{"admin"}) {
		t.Errorf("deletion jobs: %v, want [admin]", got)
	}
	if op, _ = catalog.Find("GET", "/api/profiles"); !slices.Equal(p.RolesAllowed(op), []string{"admin", "marketer", "developer", "viewer", "service"}) {
		t.Errorf("profiles: %v, want every role", p.RolesAllowed(op))
	}
}

func TestDiff(t *testing.T) {
	p := Default()
	m, _ := p.Role("marketer")
	d, _ := p.Role("developer")
	diff := p.Diff(m, d)
	if !slices.Equal(diff.OnlyAPerms, []string{"canSendCampaigns"}) {
		t.Errorf("only marketer: %v", diff.OnlyAPerms)
	}
	if !slices.Equal(diff.OnlyBPerms, []string{"canWriteProfiles", "canTrackEvents", "canManageWebhooks"}) {
		t.Errorf("only developer: %v", diff.OnlyBPerms)
	}
	if !slices.Equal(diff.OnlyAScopes, []string{"campaigns:write"}) {
		t.Errorf("only marketer scopes: %v", diff.OnlyAScopes)
	}
}

func TestLookupSuggests(t *testing.T) {
	p := Default()
	_, err := p.LookupRole("markter")
	if err == nil || !strings.Contains(err.Error(), `unknown role "markter"`) {
		t.Fatalf("err = %v", err)
	}
	if _, err := p.LookupRole("marketer"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.LookupUser("alice"); err == nil || !strings.Contains(err.Error(), "maps no users") {
		t.Fatalf("err = %v", err)
	}
}

func TestDefaultKeyEnv(t *testing.T) {
	for in, want := range map[string]string{"marketer": "KLAVIYO_KEY_MARKETER", "data-team": "KLAVIYO_KEY_DATA_TEAM", "svc_2": "KLAVIYO_KEY_SVC_2"} {
		if got := DefaultKeyEnv(in); got != want {
			t.Errorf("DefaultKeyEnv(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (Role{Name: "x", KeyEnv: "MY_KEY"}).EnvVar(); got != "MY_KEY" {
		t.Errorf("EnvVar with key_env = %q", got)
	}
}

// TestUnknownLongNameIsCutShort: a name pasted by mistake (a 100 kB one) is quoted in part, with its
// length, not echoed in full.
func TestUnknownLongNameIsCutShort(t *testing.T) {
	long := strings.Repeat("role-", 20000)
	_, err := Default().LookupRole(long)
	if err == nil {
		t.Fatal("found")
	}
	msg := err.Error()
	if len(msg) > 200 || !strings.Contains(msg, "(100000 bytes)") {
		t.Errorf("message of %d bytes: %.300s", len(msg), msg)
	}
	if _, err := Default().LookupRole("markter"); err == nil || !strings.Contains(err.Error(), `unknown role "markter"`) {
		t.Errorf("a short name is quoted whole: %v", err)
	}
}

func TestUsersOf(t *testing.T) {
	p := &Policy{Users: []User{{"alice", "admin"}, {"bob", "viewer"}, {"carol", "admin"}}}
	if got := p.UsersOf("admin"); !slices.Equal(got, []string{"alice", "carol"}) {
		t.Errorf("admin's users: %v", got)
	}
	if got := p.UsersOf("marketer"); got != nil {
		t.Errorf("marketer's users: %v", got)
	}
}

// who-can names the roles holding a permission and the users of those roles; lists are never nil.
func TestWhoCan(t *testing.T) {
	// A copy: Default is shared.
	own := *Default()
	p := &own
	p.Users = []User{{"alice", "admin"}, {"bob", "viewer"}}
	p.index()
	h, err := p.WhoCan("canDeleteProfiles")
	if err != nil || !slices.Equal(h.Roles, []string{"admin"}) || !slices.Equal(h.Users, []string{"alice"}) ||
		!slices.Equal(h.Scopes, []string{"data-privacy:write"}) {
		t.Errorf("canDeleteProfiles: %+v, %v", h, err)
	}
	p.Users = nil
	p.index()
	if h, _ = p.WhoCan("canDeleteProfiles"); h.Users == nil {
		t.Error("no users: Users is nil, want []")
	}
	if _, err := p.WhoCan("canDeleteProfile"); err == nil || !strings.Contains(err.Error(), "canDeleteProfile") {
		t.Errorf("unknown permission: %v", err)
	}
}
