package policy

import (
	"reflect"
	"testing"

	"github.com/klrbac/klrbac/internal/fault"
)

// Every question gets its own verdict, and the answer is allowed only when every verdict is.
func TestAskAnswersEachQuestion(t *testing.T) {
	got, err := Default().Ask(Question{Role: "marketer", Permissions: []string{"canSendCampaigns", "canDeleteProfiles"},
		Endpoints: []string{"POST /api/data-privacy-deletion-jobs"}})
	if err != nil {
		t.Fatal(err)
	}
	want := Answer{Role: "marketer", Allowed: false, Decisions: []Verdict{
		{Permission: "canSendCampaigns", Allowed: true, Reason: "role marketer holds canSendCampaigns"},
		{Permission: "canDeleteProfiles", Allowed: false, Reason: "role marketer does not hold canDeleteProfiles"},
		{Operation: "POST /api/data-privacy-deletion-jobs", Allowed: false, Reason: "role marketer lacks scope data-privacy:write",
			Missing: []string{"data-privacy:write"}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Ask:\n got %+v\nwant %+v", got, want)
	}
}

// A name that does not exist is a usage error, never a "no": a typo must not read as a denial.
func TestAskRefusesUnknownNamesAndPublicKeyCalls(t *testing.T) {
	for name, q := range map[string]Question{
		"unknown role":       {Role: "nobody", Permissions: []string{"canReadProfiles"}},
		"unknown permission": {Role: "admin", Permissions: []string{"canFly"}},
		"unknown user":       {User: "nobody@example.com", Permissions: []string{"canReadProfiles"}},
		"public key call":    {Role: "admin", Endpoints: []string{"POST /client/subscriptions"}},
		"unknown operation":  {Role: "admin", Endpoints: []string{"GET /api/profilez"}},
	} {
		if _, err := Default().Ask(q); fault.KindOf(err) != fault.Usage {
			t.Errorf("%s: %v (kind %v), want a usage error", name, err, fault.KindOf(err))
		}
	}
}

func TestAskListsTheRolesPermissions(t *testing.T) {
	got, err := Default().Ask(Question{Role: "viewer", List: true})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Allowed || len(got.Decisions) != 2 || !reflect.DeepEqual(got.Decisions[1], Verdict{Permission: "canViewReports", Allowed: true, Reason: "role viewer holds canViewReports"}) {
		t.Errorf("list: %+v", got)
	}
}
