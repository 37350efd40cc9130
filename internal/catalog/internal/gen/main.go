// Command gen builds the Klaviyo operation catalog (catalog_gen.go) from Klaviyo's published OpenAPI
// spec, so the binary carries a compact table instead of the 3 MB spec.
//
// Stable operations come from the spec itself. Klaviyo's beta spec is not vendored whole: the beta
// operations come from the table derived from it (endpoint-scopes-beta.tsv), the assignable key scopes
// from the ApiKey scope enum (api-key-scopes.txt), and the probes from scope-probes.tsv.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/klrbac/klrbac/internal/catalog/internal/tsv"
)

type spec struct {
	Info struct {
		Version string `json:"version"`
	} `json:"info"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

// schema is the part of a JSON schema the catalog reads from request bodies.
type schema struct {
	Ref        string                     `json:"$ref"`
	Type       string                     `json:"type"`
	Enum       []any                      `json:"enum"`
	Required   []string                   `json:"required"`
	Properties map[string]json.RawMessage `json:"properties"`
	Items      json.RawMessage            `json:"items"`
}

type requestBody struct {
	Ref     string `json:"$ref"`
	Content map[string]struct {
		Schema json.RawMessage `json:"schema"`
	} `json:"content"`
}

// body is what an operation's request body schema asks for, as the catalog records it.
type body struct {
	Required []string // top-level members the body must have
	Types    []string // the values data.type may take
	List     bool     // data is an array of resource objects
}

type specOperation struct {
	OperationID string                     `json:"operationId"`
	Scopes      []string                   `json:"x-klaviyo-scopes"`
	PreRelease  string                     `json:"x-klaviyo-pre-release"`
	RequestBody json.RawMessage            `json:"requestBody"`
	Security    *[]any                     `json:"security"`
	Responses   map[string]json.RawMessage `json:"responses"`
	RateLimit   struct {
		Burst  string `json:"burst"`
		Steady string `json:"steady"`
	} `json:"x-klaviyo-ratelimit"`
	Parameters []struct {
		Name     string `json:"name"`
		In       string `json:"in"`
		Required bool   `json:"required"`
		Schema   struct {
			Minimum *int `json:"minimum"`
			Maximum *int `json:"maximum"`
			Default any  `json:"default"`
			Items   struct {
				Enum []string `json:"enum"`
			} `json:"items"`
		} `json:"schema"`
	} `json:"parameters"`
}

type operation struct {
	Method, Path, ID string
	Scopes           []string
	Burst, Steady    int
	PublicKey        bool
	PageMin, PageMax int
	PageDefault      int
	Cursor           bool
	Required         []string
	Beta             bool
	HasBody          bool
	Body             body
	Sparse           string
	Includes         []string // the include= values the spec allows
	// Success is the 2xx status the spec documents, SuccessDoc whether its answer has a body;
	// Fields the members each fields[TYPE] allows.
	Success    int
	SuccessDoc bool
	Fields     map[string][]string
}

type probe struct {
	Scope, Method, Path, Query, Body string
	AlsoRequires                     []string
	OperationID, Risk, Notes         string
}

func main() {
	dir := flag.String("spec", "", "folder holding openapi-stable.json and the derived tables")
	out := flag.String("out", "catalog_gen.go", "file to write")
	flag.Parse()
	if err := run(*dir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir, out string) error {
	raw, err := os.ReadFile(filepath.Join(dir, "openapi-stable.json"))
	if err != nil {
		return err
	}
	var s spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("openapi-stable.json: %w", err)
	}
	stable, err := stableOperations(s)
	if err != nil {
		return err
	}
	beta, err := betaOperations(filepath.Join(dir, "endpoint-scopes-beta.tsv"), stable)
	if err != nil {
		return err
	}
	assignable, err := readLines(filepath.Join(dir, "api-key-scopes.txt"))
	if err != nil {
		return err
	}
	probes, err := readProbes(filepath.Join(dir, "scope-probes.tsv"))
	if err != nil {
		return err
	}
	includes, err := includeScopes(stable)
	if err != nil {
		return err
	}
	src, err := render(s.Info.Version, stable, beta, assignable, probes, includes)
	if err != nil {
		return err
	}
	return os.WriteFile(out, src, 0o644)
}

var methods = []string{"get", "post", "put", "patch", "delete"}

func stableOperations(s spec) ([]operation, error) {
	paths := make([]string, 0, len(s.Paths))
	for p := range s.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var ops []operation
	for _, p := range paths {
		for _, m := range methods {
			rawOp, ok := s.Paths[p][m]
			if !ok {
				continue
			}
			var so specOperation
			if err := json.Unmarshal(rawOp, &so); err != nil {
				return nil, fmt.Errorf("%s %s: %w", m, p, err)
			}
			burst, err := perUnit(so.RateLimit.Burst, "/s")
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", m, p, err)
			}
			steady, err := perUnit(so.RateLimit.Steady, "/m")
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", m, p, err)
			}
			op := operation{
				Method:    strings.ToUpper(m),
				Path:      p,
				ID:        so.OperationID,
				Scopes:    so.Scopes,
				Burst:     burst,
				Steady:    steady,
				PublicKey: so.Security != nil && len(*so.Security) == 0,
				Beta:      so.PreRelease != "" && so.PreRelease != "None",
				HasBody:   len(so.RequestBody) > 0,
			}
			if op.Success, err = successStatus(so.Responses); err != nil {
				return nil, fmt.Errorf("%s %s: %w", m, p, err)
			}
			var answer struct {
				Content map[string]json.RawMessage `json:"content"`
			}
			if err := json.Unmarshal(so.Responses[strconv.Itoa(op.Success)], &answer); err != nil {
				return nil, fmt.Errorf("%s %s: response %d: %w", m, p, op.Success, err)
			}
			op.SuccessDoc = len(answer.Content) > 0
			if op.HasBody {
				if op.Body, err = readBody(s.Components.Schemas, so.RequestBody); err != nil {
					return nil, fmt.Errorf("%s %s: request body: %w", m, p, err)
				}
			}
			var sparse []string
			for _, prm := range so.Parameters {
				switch {
				case prm.Name == "page[size]":
					op.PageMin, op.PageMax = deref(prm.Schema.Minimum), deref(prm.Schema.Maximum)
					if d, ok := prm.Schema.Default.(float64); ok {
						op.PageDefault = int(d)
					}
				case prm.Name == "page[cursor]":
					op.Cursor = true
				case prm.Name == "include" && prm.In == "query":
					op.Includes = slices.Clone(prm.Schema.Items.Enum)
				case strings.HasPrefix(prm.Name, "fields[") && len(prm.Schema.Items.Enum) > 0:
					sparse = append(sparse, prm.Name+"="+leanestField(prm.Schema.Items.Enum))
					if op.Fields == nil {
						op.Fields = map[string][]string{}
					}
					typ := strings.TrimSuffix(strings.TrimPrefix(prm.Name, "fields["), "]")
					op.Fields[typ] = slices.Clone(prm.Schema.Items.Enum)
				}
				if prm.Required && (prm.In == "query" || prm.In == "path") {
					op.Required = append(op.Required, prm.Name)
				}
			}
			op.Sparse = strings.Join(sparse, "&")
			ops = append(ops, op)
		}
	}
	return ops, nil
}

// successStatus is the status the spec documents for a call that succeeds: the one 2xx it lists,
// or 201 where it lists 200 and 201 (create or update: a store that holds nothing always creates).
func successStatus(responses map[string]json.RawMessage) (int, error) {
	var codes []int
	for k := range responses {
		if n, err := strconv.Atoi(k); err == nil && n >= 200 && n < 300 {
			codes = append(codes, n)
		}
	}
	sort.Ints(codes)
	switch {
	case len(codes) == 1:
		return codes[0], nil
	case slices.Equal(codes, []int{200, 201}):
		return 201, nil
	}
	return 0, fmt.Errorf("responses: 2xx statuses %v, want one (or 200 and 201)", codes)
}

// readBody reads what a request body schema asks for: its required top-level members and, for a
// JSON:API document, the resource type(s) data.type must name and whether data is a list.
func readBody(schemas map[string]json.RawMessage, raw json.RawMessage) (body, error) {
	var rb requestBody
	if err := json.Unmarshal(raw, &rb); err != nil {
		return body{}, err
	}
	if rb.Ref != "" {
		return body{}, fmt.Errorf("$ref %s: shared request bodies are not supported", rb.Ref)
	}
	media := ""
	for _, m := range []string{"application/vnd.api+json", "application/json", "multipart/form-data"} {
		if _, ok := rb.Content[m]; ok {
			media = m
			break
		}
	}
	if media == "" {
		return body{}, fmt.Errorf("no content of a known media type")
	}
	top, err := resolve(schemas, rb.Content[media].Schema)
	if err != nil {
		return body{}, err
	}
	b := body{Required: top.Required}
	rawData, ok := top.Properties["data"]
	if !ok {
		return b, nil
	}
	data, err := resolve(schemas, rawData)
	if err != nil {
		return body{}, fmt.Errorf("data: %w", err)
	}
	resource := data
	if data.Type == "array" {
		b.List = true
		if resource, err = resolve(schemas, data.Items); err != nil {
			return body{}, fmt.Errorf("data items: %w", err)
		}
	}
	rawType, ok := resource.Properties["type"]
	if !ok {
		return body{}, fmt.Errorf("data has no type property")
	}
	typ, err := resolve(schemas, rawType)
	if err != nil {
		return body{}, fmt.Errorf("data.type: %w", err)
	}
	for _, v := range typ.Enum {
		if t, ok := v.(string); ok {
			b.Types = append(b.Types, t)
		}
	}
	if len(b.Types) == 0 {
		return body{}, fmt.Errorf("data.type has no enum of resource types")
	}
	return b, nil
}

// resolve decodes a schema, following $refs into components.schemas.
func resolve(schemas map[string]json.RawMessage, raw json.RawMessage) (schema, error) {
	for range 16 {
		var sc schema
		if err := json.Unmarshal(raw, &sc); err != nil {
			return schema{}, err
		}
		if sc.Ref == "" {
			return sc, nil
		}
		name, local := strings.CutPrefix(sc.Ref, "#/components/schemas/")
		next, found := schemas[name]
		if !local || !found {
			return schema{}, fmt.Errorf("$ref %s: no such schema", sc.Ref)
		}
		raw = next
	}
	return schema{}, fmt.Errorf("$refs nested too deep")
}

// leanestField picks the sparse fieldset member least likely to carry customer data, so that a
// probe reading a list learns only that the call was permitted.
func leanestField(enum []string) string {
	for _, f := range []string{"id", "name", "created", "updated", "status"} {
		if slices.Contains(enum, f) {
			return f
		}
	}
	return enum[0]
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func perUnit(s, unit string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSuffix(s, unit))
	if err != nil || !strings.HasSuffix(s, unit) {
		return 0, fmt.Errorf("rate limit %q is not N%s", s, unit)
	}
	return n, nil
}

func split(s, sep string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, sep)
}

// betaOperations takes the beta operations whose method and path are not also stable: where a
// stable operation exists, klrbac speaks the stable revision.
func betaOperations(path string, stable []operation) ([]operation, error) {
	rows, err := tsv.Read(path)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, op := range stable {
		seen[op.Method+" "+op.Path] = true
	}
	var ops []operation
	for _, r := range rows {
		if seen[r["method"]+" "+r["path"]] {
			continue
		}
		burst, err := perUnit(r["rate_burst"], "/s")
		if err != nil {
			return nil, err
		}
		steady, err := perUnit(r["rate_steady"], "/m")
		if err != nil {
			return nil, err
		}
		ops = append(ops, operation{
			Method: r["method"], Path: r["path"], ID: r["operationId"],
			Scopes: split(r["scopes"], ","), Burst: burst, Steady: steady,
			PublicKey: strings.HasPrefix(r["auth"], "public_key"),
			Cursor:    r["page_cursor"] == "yes",
			Required:  split(r["required_query_path_params"], ";"),
			Beta:      true, HasBody: r["has_request_body"] == "yes",
		})
	}
	return ops, nil
}

func readLines(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, nil
}

func readProbes(path string) ([]probe, error) {
	rows, err := tsv.Read(path)
	if err != nil {
		return nil, err
	}
	var out []probe
	for _, r := range rows {
		out = append(out, probe{
			Scope: r["scope"], Method: r["method"], Path: r["path"], Query: r["query"], Body: r["body"],
			AlsoRequires: split(r["also_requires"], ","), OperationID: r["operationId"],
			Risk: r["side_effect_risk_if_body_were_valid"], Notes: r["notes"],
		})
	}
	return out, nil
}

func render(version string, stable, beta []operation, assignable []string, probes []probe, includes map[string][]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by internal/gen from Klaviyo's OpenAPI spec; DO NOT EDIT.\n\n")
	b.WriteString("package catalog\n\nimport \"sync\"\n\n")
	fmt.Fprintf(&b, "// SpecRevision is the info.version of the spec the catalog was built from.\nconst SpecRevision = %q\n\n", version)
	// The sparse fieldsets are shared: one list per distinct set of fields, which most operations of
	// a resource type have in common.
	var fieldSets [][]string
	fieldSet := func(fields []string) int {
		for i, f := range fieldSets {
			if slices.Equal(f, fields) {
				return i
			}
		}
		fieldSets = append(fieldSets, fields)
		return len(fieldSets) - 1
	}
	writeOps := func(name string, ops []operation) {
		// Built on first use: the operations' field maps cannot be laid out by the linker, and
		// building them in an init would cost every run, most of which never look an operation up.
		fmt.Fprintf(&b, "var %s = sync.OnceValue(func() []Operation {\nreturn []Operation{\n", name)
		for _, o := range ops {
			fmt.Fprintf(&b, "{Method: %q, Path: %q, ID: %q, Scopes: %#v, Burst: %d, Steady: %d",
				o.Method, o.Path, o.ID, o.Scopes, o.Burst, o.Steady)
			if o.PublicKey {
				b.WriteString(", PublicKey: true")
			}
			if o.PageMax > 0 {
				fmt.Fprintf(&b, ", PageSize: PageSize{Min: %d, Max: %d, Default: %d}", o.PageMin, o.PageMax, o.PageDefault)
			}
			if o.Cursor {
				b.WriteString(", Cursor: true")
			}
			if len(o.Required) > 0 {
				fmt.Fprintf(&b, ", Required: %#v", o.Required)
			}
			if o.Beta {
				b.WriteString(", Beta: true")
			}
			if o.HasBody {
				b.WriteString(", HasBody: true")
			}
			if o.Body.Required != nil || o.Body.Types != nil {
				b.WriteString(", Body: RequestBody{")
				var fields []string
				if len(o.Body.Required) > 0 {
					fields = append(fields, fmt.Sprintf("Required: %#v", o.Body.Required))
				}
				if len(o.Body.Types) > 0 {
					fields = append(fields, fmt.Sprintf("Types: %#v", o.Body.Types))
				}
				if o.Body.List {
					fields = append(fields, "List: true")
				}
				b.WriteString(strings.Join(fields, ", ") + "}")
			}
			if o.Sparse != "" {
				fmt.Fprintf(&b, ", Sparse: %q", o.Sparse)
			}
			if len(o.Includes) > 0 {
				fmt.Fprintf(&b, ", Includes: %#v", o.Includes)
			}
			if o.Success != 0 {
				fmt.Fprintf(&b, ", Success: %d", o.Success)
			}
			if o.SuccessDoc {
				b.WriteString(", SuccessDoc: true")
			}
			if len(o.Fields) > 0 {
				types := make([]string, 0, len(o.Fields))
				for t := range o.Fields {
					types = append(types, t)
				}
				sort.Strings(types)
				b.WriteString(", Fields: map[string][]string{")
				for _, t := range types {
					fmt.Fprintf(&b, "%q: fieldSets[%d], ", t, fieldSet(o.Fields[t]))
				}
				b.WriteString("}")
			}
			b.WriteString("},\n")
		}
		b.WriteString("}\n})\n\n")
	}
	writeOps("stableOperations", stable)
	writeOps("betaOperations", beta)
	b.WriteString("var fieldSets = [][]string{\n")
	for _, f := range fieldSets {
		fmt.Fprintf(&b, "%#v,\n", f)
	}
	b.WriteString("}\n\n")
	fmt.Fprintf(&b, "var assignableScopes = %#v\n\n", assignable)
	names := make([]string, 0, len(includes))
	for n := range includes {
		names = append(names, n)
	}
	sort.Strings(names)
	b.WriteString("var includeScopes = sync.OnceValue(func() map[string][]string {\nreturn map[string][]string{\n")
	for _, n := range names {
		fmt.Fprintf(&b, "%q: %#v,\n", n, includes[n])
	}
	b.WriteString("}\n})\n\n")
	b.WriteString("var probes = []Probe{\n")
	for _, p := range probes {
		fmt.Fprintf(&b, "{Scope: %q, Method: %q, Path: %q, Query: %q, Body: %q, AlsoRequires: %#v, OperationID: %q, Risk: %q, Notes: %q},\n",
			p.Scope, p.Method, p.Path, p.Query, p.Body, p.AlsoRequires, p.OperationID, p.Risk, p.Notes)
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}

// includeWithoutEndpoint gives the read scopes of the related resources that have no GET endpoint of
// their own to read them from: each is part of a resource that does (a profile's conversations, a
// list's or segment's flow triggers, a custom object type's schemas), or, for attributions, of the
// campaigns and flows an event is attributed to.
var includeWithoutEndpoint = map[string][]string{
	"attributions":           {"campaigns:read", "flows:read"},
	"conversations":          {"conversations:read", "profiles:read"},
	"current-schema":         {"custom-objects:read"},
	"draft-schema":           {"custom-objects:read"},
	"flow-triggers":          {"flows:read"},
	"profile-object-schemas": {"custom-objects:read"},
	"profile-object-types":   {"custom-objects:read"},
	"schema-versions":        {"custom-objects:read"},
}

// includeScopes maps every include= value a stable operation allows to the scopes that reading the
// related resource on its own needs: those of GET /api/<resources>/{id}, found by the value's plural
// (profile -> /api/profiles/{id}) or as the unique resource it ends (variants ->
// /api/catalog-variants/{id}). Values with no such endpoint come from includeWithoutEndpoint; a value
// in neither fails the build, so a new relationship in the spec is never left unscoped.
func includeScopes(stable []operation) (map[string][]string, error) {
	byPath := map[string][]string{}
	for _, o := range stable {
		if o.Method == "GET" && !o.PublicKey {
			byPath[o.Path] = o.Scopes
		}
	}
	out := map[string][]string{}
	for _, o := range stable {
		for _, v := range o.Includes {
			if _, done := out[v]; done {
				continue
			}
			plural := v
			if !strings.HasSuffix(v, "s") {
				plural = v + "s"
			}
			if scopes, ok := byPath["/api/"+plural+"/{id}"]; ok {
				out[v] = slices.Clone(scopes)
				continue
			}
			var found []string
			for p := range byPath {
				if strings.HasPrefix(p, "/api/") && strings.HasSuffix(p, "-"+plural+"/{id}") && strings.Count(p, "/") == 3 {
					found = append(found, p)
				}
			}
			if len(found) == 1 {
				out[v] = slices.Clone(byPath[found[0]])
				continue
			}
			if scopes, ok := includeWithoutEndpoint[v]; ok {
				out[v] = slices.Clone(scopes)
				continue
			}
			return nil, fmt.Errorf("%s %s: include=%s: no GET endpoint reads that resource and includeWithoutEndpoint does not name its scopes", o.Method, o.Path, v)
		}
	}
	return out, nil
}
