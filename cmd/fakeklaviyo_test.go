package cmd

import (
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdFakeKlaviyo starts a stand-in for Klaviyo's GET /api/accounts on the loopback interface and
// points KLRBAC_API_URL at it for the rest of the script. It accepts the canary keys of the default
// roles, answers the viewer's key as a key lacking accounts:read would (403 permission_denied),
// and refuses anything else with 401.
//
//	fakeklaviyo
func cmdFakeKlaviyo(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: fakeklaviyo")
	}
	accepted := map[string]bool{}
	for _, name := range []string{"admin", "marketer", "developer", "service", "account"} {
		accepted[canaryValue(ts, name)] = true
	}
	limited := canaryValue(ts, "viewer")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.api+json")
		if strings.TrimSuffix(r.URL.Path, "/") != "/api/accounts" || r.Method != http.MethodGet || r.Header.Get("revision") == "" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"errors":[{"status":"400","code":"invalid","title":"Invalid input."}]}`))
			return
		}
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Klaviyo-API-Key ")
		switch {
		case ok && accepted[key]:
			_, _ = w.Write([]byte(`{"data":[{"type":"account","id":"Cnry01"}]}`))
		case ok && key == limited:
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"errors":[{"status":"403","code":"permission_denied","title":"You do not have permission to perform this action."}]}`))
		case !ok:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errors":[{"status":"401","code":"not_authenticated","title":"Authentication credentials were not provided."}]}`))
		default:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errors":[{"status":"401","code":"authentication_failed","title":"Incorrect authentication credentials."}]}`))
		}
	}))
	ts.Defer(srv.Close)
	ts.Setenv("KLRBAC_API_URL", srv.URL)
}
