package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/mask"
)

// Klaviyo's error texts, which are Django REST Framework's defaults.
const (
	textNotAuthenticated     = "Authentication credentials were not provided."
	detailNotAuthenticated   = "Missing or invalid authorization scheme. Please use Klaviyo-API-Key."
	textAuthenticationFailed = "Incorrect authentication credentials."
	textPermissionDenied     = "You do not have permission to perform this action."
	textInvalid              = "Invalid input."
	textNotFound             = "Not found."
	textThrottled            = "Request was throttled."
)

// principal is who a request authenticated as.
type principal struct {
	account *Account
	scopes  map[string]bool
	quota   string // rate-limit quota: the account, or the OAuth app within the account
	who     string // for the log: masked credential
}

// serveAPI answers /api and /client calls in Django REST Framework's order, which Klaviyo's codes
// come from: authenticate, check scopes, throttle, then validate the body and look up the object.
// The revision is checked before all that, since it picks the API version the view belongs to.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	fs := s.faults.Load()
	path := strings.TrimRight(r.URL.Path, "/")
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	rt := routes().match(r.Method, segs)
	rec := s.record(w, "", "")
	rec.r = r
	if rt != nil {
		rec.op = rt.method + " " + rt.template
		rec.id = rt.operationID()
	}
	defer rec.done()

	if fs.Liar != "" {
		s.lie(rec, r, fs.Liar)
		return
	}
	strike := fs.next()
	if s.injectFault(w, rec, fs, strike) {
		return
	}
	if rt == nil {
		if allowed := routes().allowed(segs); len(allowed) > 0 {
			rec.Header().Set("Allow", strings.Join(allowed, ", "))
			msg := fmt.Sprintf("Method %q not allowed.", r.Method)
			writeError(rec, http.StatusMethodNotAllowed, "method_not_allowed", msg, msg, "")
			return
		}
		writeError(rec, http.StatusNotFound, "not_found", textNotFound, textNotFound, "")
		return
	}

	op, ok := s.checkRevision(rec, r, rt)
	if !ok {
		return
	}
	rec.id = op.ID
	query := r.URL.Query()
	var who principal
	if op.PublicKey {
		who, ok = s.publicKey(rec, query, op)
	} else {
		who, ok = s.authenticate(rec, r)
	}
	if !ok {
		return
	}
	rec.who = who.who
	for _, scope := range op.Scopes {
		if !op.PublicKey && !who.scopes[scope] {
			writeError(rec, http.StatusForbidden, "permission_denied", textPermissionDenied, textPermissionDenied, "/data/")
			return
		}
	}
	if !s.throttle(rec, fs, strike == throttleStrike, who.quota, op) {
		return
	}
	if fs.AcceptWrites && op.Method != http.MethodGet {
		writeDoc(rec, http.StatusAccepted, []byte(`{"meta":{"sandbox":"write accepted and ignored"}}`))
		return
	}
	params := rt.paramValues(segs)
	if !checkQuery(rec, query, op, params) {
		return
	}
	var data map[string]any
	if op.HasBody {
		if data, ok = checkBody(rec, r, op, params); !ok {
			return
		}
	}
	s.respond(rec, r, op, who, params, data)
}

// authenticate reads the Authorization header: a private key or an OAuth access token.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (principal, bool) {
	scheme, cred, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	cred = strings.TrimSpace(cred)
	switch {
	case cred == "":
	case strings.EqualFold(scheme, "Klaviyo-API-Key"):
		if k := s.keys[cred]; k != nil && k.key.Status != Disabled {
			return principal{account: k.account, scopes: k.scopes, quota: k.account.ID, who: k.key.Name + " " + mask.Secret(cred)}, true
		}
		writeError(w, http.StatusUnauthorized, "authentication_failed", textAuthenticationFailed, textAuthenticationFailed, "/data/")
		return principal{}, false
	case strings.EqualFold(scheme, "Bearer"):
		if p, ok := s.bearer(cred); ok {
			return p, true
		}
		writeError(w, http.StatusUnauthorized, "authentication_failed", textAuthenticationFailed, textAuthenticationFailed, "/data/")
		return principal{}, false
	}
	w.Header().Set("WWW-Authenticate", `Klaviyo-API-Key realm="api"`)
	writeError(w, http.StatusUnauthorized, "not_authenticated", textNotAuthenticated, detailNotAuthenticated, "/data/")
	return principal{}, false
}

// publicKey authenticates a /client call by its company_id, the account's public key; such calls
// carry no private key and no scopes are checked. The few that do not require company_id share one
// anonymous quota.
func (s *Server) publicKey(w http.ResponseWriter, query url.Values, op *catalog.Operation) (principal, bool) {
	id := query.Get("company_id")
	if a := s.accounts[id]; a != nil {
		return principal{account: a, quota: a.ID + "/client", who: "company_id=" + id}, true
	}
	if id == "" && !slices.Contains(op.Required, "company_id") {
		return principal{quota: "/client", who: "anonymous"}, true
	}
	detail := "company_id is required: send the account's 6-character public key."
	if id != "" {
		detail = fmt.Sprintf("Invalid company_id %q.", id)
	}
	writeErrorParam(w, http.StatusBadRequest, "invalid", textInvalid, detail, "company_id")
	return principal{}, false
}

// checkQuery checks the query parameters the spec requires and the page[size] range.
func checkQuery(w http.ResponseWriter, q url.Values, op *catalog.Operation, params map[string]string) bool {
	for _, name := range op.Required {
		if _, inPath := params[name]; inPath || name == "company_id" {
			continue
		}
		if q.Get(name) == "" {
			writeErrorParam(w, http.StatusBadRequest, "invalid", textInvalid, fmt.Sprintf("'%s' is a required parameter.", name), name)
			return false
		}
	}
	if !checkFields(w, q, op) {
		return false
	}
	if v := q.Get("page[size]"); v != "" && op.PageSize.Max > 0 {
		n, err := strconv.Atoi(v)
		if err != nil || n < op.PageSize.Min || n > op.PageSize.Max {
			writeErrorParam(w, http.StatusBadRequest, "invalid", textInvalid,
				fmt.Sprintf("page[size] must be an integer between %d and %d.", op.PageSize.Min, op.PageSize.Max), "page[size]")
			return false
		}
	}
	return true
}

// apiKeyFields are the sparse fields of Klaviyo's beta api-keys operations (openapi/beta.json,
// fields[api-key]), whose parameters the catalog does not carry.
var apiKeyFields = map[string][]string{"api-key": {"created", "id", "name", "redacted_key", "scopes", "status"}}

// checkFields checks the sparse fieldsets (fields[TYPE]=a,b) against those the spec lists for the
// operation: a type it has none for, or a field it does not list, is a 400 about that parameter.
// Operations the catalog knows no fieldsets for are not checked. Klaviyo's wording is not known.
func checkFields(w http.ResponseWriter, q url.Values, op *catalog.Operation) bool {
	fields := op.Fields
	if op.ID == "get_api_keys_beta" || op.ID == "get_api_key_beta" {
		fields = apiKeyFields
	}
	if fields == nil {
		return true
	}
	for name, values := range q {
		typ, ok := strings.CutPrefix(name, "fields[")
		if !ok || !strings.HasSuffix(typ, "]") {
			continue
		}
		typ = strings.TrimSuffix(typ, "]")
		allowed, known := fields[typ]
		if !known {
			writeErrorParam(w, http.StatusBadRequest, "invalid", textInvalid,
				fmt.Sprintf("'%s' is not a valid sparse fieldset for this endpoint.", name), name)
			return false
		}
		for _, v := range values {
			for _, f := range strings.Split(v, ",") {
				if f = strings.TrimSpace(f); f != "" && !slices.Contains(allowed, f) {
					writeErrorParam(w, http.StatusBadRequest, "invalid", textInvalid,
						fmt.Sprintf("'%s' is not a valid field for the resource '%s'.", f, typ), name)
					return false
				}
			}
		}
	}
	return true
}

// checkBody parses and checks a write's body against what the spec's schema asks: the members it
// requires and, for a JSON:API document, a "data" member holding a resource object (or a list of
// them, for to-many relationships) whose type is the one the operation expects, with an id when
// the path names an object. Beta operations, whose schemas the catalog does not carry, are held to
// the shape every Klaviyo document has, whatever their type. It returns the body's resource object,
// when data is one.
func checkBody(w http.ResponseWriter, r *http.Request, op *catalog.Operation, params map[string]string) (map[string]any, bool) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", textInvalid, "The request body could not be read.", "/")
		return nil, false
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		writeError(w, http.StatusBadRequest, "invalid", textInvalid, "A request body is required.", "/")
		return nil, false
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/vnd.api+json" && mt != "application/json") {
			msg := fmt.Sprintf("Unsupported media type %q in request.", ct)
			writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", msg, msg, "/")
			return nil, false
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		writeError(w, http.StatusBadRequest, "invalid", textInvalid, "JSON parse error - the body is not a JSON object.", "/")
		return nil, false
	}
	required := op.Body.Required
	if required == nil {
		required = []string{"data"}
	}
	for _, name := range required {
		if _, ok := doc[name]; !ok {
			writeError(w, http.StatusBadRequest, "invalid", textInvalid, fmt.Sprintf("'%s' is a required property.", name), "/"+name)
			return nil, false
		}
	}
	var resource map[string]any
	data, present := doc["data"]
	if !present {
		return nil, true
	}
	relationship := strings.Contains(op.Path, "/relationships/")
	list := op.Body.List
	if op.Body.Types == nil {
		list = relationship || strings.Contains(op.Path, "bulk")
	}
	switch d := data.(type) {
	case map[string]any:
		resource = d
		if op.Body.List {
			writeError(w, http.StatusBadRequest, "invalid", textInvalid, "'data' must be a list.", "/data")
			return nil, false
		}
		if !checkType(w, op, d["type"], "/data/type") {
			return nil, false
		}
		if _, ok := d["id"]; !ok && !relationship && op.Method == http.MethodPatch && len(params) > 0 {
			writeError(w, http.StatusBadRequest, "invalid", textInvalid, "'id' is a required property.", "/data/id")
			return nil, false
		}
		if !relationship {
			if a, ok := d["attributes"]; ok {
				if _, isObj := a.(map[string]any); !isObj {
					writeError(w, http.StatusBadRequest, "invalid", textInvalid, "'attributes' must be an object.", "/data/attributes")
					return nil, false
				}
			}
		}
	case []any:
		if !list {
			writeError(w, http.StatusBadRequest, "invalid", textInvalid, "'data' must be an object.", "/data")
			return nil, false
		}
		for i, item := range d {
			o, _ := item.(map[string]any)
			if !checkType(w, op, o["type"], fmt.Sprintf("/data/%d/type", i)) {
				return nil, false
			}
		}
	case nil:
		if !relationship {
			writeError(w, http.StatusBadRequest, "invalid", textInvalid, "'data' may not be null.", "/data")
			return nil, false
		}
	default:
		writeError(w, http.StatusBadRequest, "invalid", textInvalid, "'data' must be an object.", "/data")
		return nil, false
	}
	return resource, true
}

// checkType checks a resource object's type member: present and, where the catalog knows it, the
// type the operation expects. The wording is JSON Schema's, as in Klaviyo's other body errors.
func checkType(w http.ResponseWriter, op *catalog.Operation, v any, pointer string) bool {
	t, isString := v.(string)
	var detail string
	switch {
	case v == nil || isString && t == "":
		detail = "'type' is a required property."
	case isString && (len(op.Body.Types) == 0 || slices.Contains(op.Body.Types, t)):
		return true
	case len(op.Body.Types) == 0:
		detail = fmt.Sprintf("%s is not of type 'string'.", schemaRepr(v))
	default:
		detail = fmt.Sprintf("%s is not one of [%s].", schemaRepr(v), strings.Join(quoteAll(op.Body.Types), ", "))
	}
	writeError(w, http.StatusBadRequest, "invalid", textInvalid, detail, pointer)
	return false
}

// schemaRepr writes a JSON value as JSON Schema's messages do: strings in single quotes.
func schemaRepr(v any) string {
	if s, ok := v.(string); ok {
		return "'" + s + "'"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = schemaRepr(s)
	}
	return out
}

// respond answers a call that passed every check. There is no data: lists are empty, except the
// account and its keys; any other id is unknown. data is the write's resource object, if any.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, op *catalog.Operation, who principal, params map[string]string, data map[string]any) {
	self := "http://" + r.Host + r.URL.RequestURI()
	switch op.ID {
	case "get_accounts":
		writeJSON(w, http.StatusOK, listDoc(self, []resource{accountResource(r, who.account)}))
		return
	case "get_account":
		if params["id"] == who.account.ID {
			writeJSON(w, http.StatusOK, map[string]any{"data": accountResource(r, who.account), "links": map[string]any{"self": self}})
			return
		}
	case "get_api_keys_beta":
		s.listKeys(w, r, who.account)
		return
	case "get_api_key_beta":
		for _, k := range who.account.Keys {
			if k.ID() == params["id"] {
				writeJSON(w, http.StatusOK, map[string]any{"data": s.keyResource(r, k), "links": map[string]any{"self": self}})
				return
			}
		}
	}
	if len(params) > 0 {
		id := params["id"]
		if id == "" {
			for _, v := range params {
				id = v
			}
		}
		writeError(w, http.StatusNotFound, "not_found", textNotFound, fmt.Sprintf("No object with id %q exists.", id), "/data/id")
		return
	}
	if op.Method == http.MethodGet {
		writeList(w, self)
		return
	}
	created(w, r, op, data)
}

// created answers a write that would have succeeded with the status the spec documents for it:
// 201 (or 200) with the resource, 202 with or without a document, 204 without a body. Nothing is
// stored. Beta operations, whose responses the catalog does not carry, answer 202.
func created(w http.ResponseWriter, r *http.Request, op *catalog.Operation, data map[string]any) {
	switch {
	case op.Success == 0:
		writeDoc(w, http.StatusAccepted, []byte(`{"meta":{"sandbox":"accepted; the sandbox stores nothing"}}`))
	case !op.SuccessDoc:
		w.WriteHeader(op.Success)
	default:
		typ, _ := data["type"].(string)
		if typ == "" && len(op.Body.Types) > 0 {
			typ = op.Body.Types[0]
		}
		if typ == "" {
			typ = strings.TrimSuffix(path.Base(op.Path), "s")
		}
		attrs, _ := data["attributes"].(map[string]any)
		if attrs == nil {
			attrs = map[string]any{}
		}
		id := "sandbox" + randomToken(8)
		writeJSON(w, op.Success, map[string]any{
			"data": resource{"type": typ, "id": id, "attributes": attrs,
				"links": map[string]any{"self": "http://" + r.Host + strings.TrimRight(r.URL.Path, "/") + "/" + id + "/"}},
			"links": map[string]any{"self": "http://" + r.Host + r.URL.RequestURI()},
		})
	}
}

// resource is a JSON:API resource object.
type resource map[string]any

func listDoc(self string, data []resource) map[string]any {
	if data == nil {
		data = []resource{}
	}
	return map[string]any{"data": data, "links": map[string]any{"self": self, "next": nil, "prev": nil}}
}

// writeList writes an empty list document without building it through reflection: the hot path
// of the throughput benchmark.
func writeList(w http.ResponseWriter, self string) {
	b := make([]byte, 0, 96+len(self))
	b = append(b, `{"data":[],"links":{"self":`...)
	b = strconv.AppendQuote(b, self)
	b = append(b, `,"next":null,"prev":null}}`...)
	writeDoc(w, http.StatusOK, b)
}

func accountResource(r *http.Request, a *Account) resource {
	return fields(r, "account", resource{
		"type": "account",
		"id":   a.ID,
		"attributes": map[string]any{
			"test_account": true,
			"contact_information": map[string]any{
				"default_sender_name":  a.Name,
				"default_sender_email": "sandbox@example.com",
				"website_url":          "https://example.com",
				"organization_name":    a.Name,
				"street_address": map[string]any{
					"address1": "", "address2": "", "city": "", "region": "", "country": "", "zip": "",
				},
			},
			"industry":           nil,
			"timezone":           "UTC",
			"preferred_currency": "USD",
			"public_api_key":     a.ID,
			"locale":             "en-US",
		},
		"links": map[string]any{"self": "http://" + r.Host + "/api/accounts/" + a.ID + "/"},
	})
}

func (s *Server) keyResource(r *http.Request, k Key) resource {
	attrs := map[string]any{
		"name":    k.Name,
		"status":  k.Status,
		"scopes":  nonNil(k.Granted()),
		"created": s.createdAt(k).Format(createdLayout),
	}
	for _, f := range strings.Split(r.URL.Query().Get("additional-fields[api-key]"), ",") {
		if strings.TrimSpace(f) == "redacted_key" {
			attrs["redacted_key"] = mask.Secret(k.Secret)
		}
	}
	return fields(r, "api-key", resource{
		"type":       "api-key",
		"id":         k.ID(),
		"attributes": attrs,
		"links":      map[string]any{"self": "http://" + r.Host + "/api/api-keys/" + k.ID() + "/"},
	})
}

// fields applies a sparse fieldset (fields[TYPE]=a,b) to a resource's attributes.
func fields(r *http.Request, typ string, res resource) resource {
	want := r.URL.Query().Get("fields[" + typ + "]")
	if want == "" {
		return res
	}
	names := strings.Split(want, ",")
	attrs, _ := res["attributes"].(map[string]any)
	kept := map[string]any{}
	if v, ok := attrs["redacted_key"]; ok {
		kept["redacted_key"] = v
	}
	for _, name := range names {
		keepField(kept, attrs, strings.Split(name, "."))
	}
	res["attributes"] = kept
	return res
}

// keepField copies the attribute at path from attrs into kept, as Klaviyo's sparse fieldsets do
// with dotted names (contact_information.organization_name keeps that one nested field).
func keepField(kept, attrs map[string]any, path []string) {
	v, ok := attrs[path[0]]
	if !ok {
		return
	}
	if len(path) == 1 {
		kept[path[0]] = v
		return
	}
	inner, ok := v.(map[string]any)
	if !ok {
		return
	}
	sub, ok := kept[path[0]].(map[string]any)
	if !ok {
		sub = map[string]any{}
		kept[path[0]] = sub
	}
	keepField(sub, inner, path[1:])
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// writeError writes a JSON:API error document the way Klaviyo does.
func writeError(w http.ResponseWriter, status int, code, title, detail, pointer string) {
	writeErrorSource(w, status, code, title, detail, map[string]any{"pointer": pointer})
}

func writeErrorParam(w http.ResponseWriter, status int, code, title, detail, param string) {
	writeErrorSource(w, status, code, title, detail, map[string]any{"parameter": param})
}

func writeErrorSource(w http.ResponseWriter, status int, code, title, detail string, source map[string]any) {
	if source["pointer"] == "" {
		source = map[string]any{}
	}
	writeJSON(w, status, map[string]any{"errors": []any{map[string]any{
		"id":     uuid4(),
		"status": status,
		"code":   code,
		"title":  title,
		"detail": detail,
		"source": source,
		"links":  map[string]any{},
		"meta":   map[string]any{},
	}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"errors":[{"status":500,"code":"error","title":"A server error occurred.","detail":"A server error occurred."}]}`)
		status = http.StatusInternalServerError
	}
	writeDoc(w, status, b)
}

// jsonAPIType is shared by every answer: net/http only reads header values.
var jsonAPIType = []string{"application/vnd.api+json"}

func writeDoc(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = jsonAPIType
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
