package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/ui"
	"github.com/klrbac/klrbac/internal/viewschema"
)

// docs/json-output.md documents every -o json view, and docs/schema/VIEW.json is each one's schema:
// every field named, the required ones required, nothing else allowed. The scripts check what klrbac
// really prints against them (the jsonschema command), so a view that gains, loses or renames a field
// fails until its schema, and so its documentation, says so. internal/viewschema checks them: a
// general JSON Schema library would start up (compiling every draft's meta-schema) in each of the
// hundreds of klrbac processes the scripts run from this test binary; its tests hold it to one.

// schemaDir is where the documented schemas live, from the cmd package's directory.
var schemaDir = filepath.Join("..", "docs", "schema")

var (
	schemaMu       sync.Mutex
	compiledSchema = map[string]*viewschema.Schema{}
	schemaSource   = map[string]any{}
)

// loadSchema compiles docs/schema/VIEW.json once per test binary.
func loadSchema(view string) (*viewschema.Schema, any, error) {
	schemaMu.Lock()
	defer schemaMu.Unlock()
	if s, ok := compiledSchema[view]; ok {
		return s, schemaSource[view], nil
	}
	path, err := filepath.Abs(filepath.Join(schemaDir, view+".json"))
	if err != nil {
		return nil, nil, err
	}
	s, doc, err := viewschema.Load(path)
	if err != nil {
		return nil, nil, err
	}
	compiledSchema[view], schemaSource[view] = s, doc
	return s, doc, nil
}

// schemaFields lists the field paths a schema declares, such as "/roles/[]/verdict" or
// "/allowed/*/*": "[]" stands for an array's items and "*" for a map's values.
func schemaFields(schema any, path string, into map[string]bool) {
	m, ok := schema.(map[string]any)
	if !ok {
		return
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for name, sub := range props {
			into[path+"/"+name] = true
			schemaFields(sub, path+"/"+name, into)
		}
	}
	if items, ok := m["items"]; ok {
		schemaFields(items, path+"/[]", into)
	}
	if extra, ok := m["additionalProperties"].(map[string]any); ok {
		into[path+"/*"] = true
		schemaFields(extra, path+"/*", into)
	}
}

// instanceFields records the field paths of a value that its schema declares, as schemaFields
// names them.
func instanceFields(schema, value any, path string, into map[string]bool) {
	m, ok := schema.(map[string]any)
	if !ok {
		return
	}
	switch v := value.(type) {
	case map[string]any:
		props, _ := m["properties"].(map[string]any)
		extra, _ := m["additionalProperties"].(map[string]any)
		for name, field := range v {
			if sub, ok := props[name]; ok {
				into[path+"/"+name] = true
				instanceFields(sub, field, path+"/"+name, into)
			} else if extra != nil {
				into[path+"/*"] = true
				instanceFields(extra, field, path+"/*", into)
			}
		}
	case []any:
		for _, item := range v {
			instanceFields(m["items"], item, path+"/[]", into)
		}
	}
}

// schemaSeen is, per script, the field paths of each view its jsonschema commands have seen.
type schemaSeen map[string]map[string]bool

type schemaSeenKey struct{}

// cmdJSONSchema checks the last command's stdout against a documented schema:
//
//	jsonschema roles-list           stdout is one value of view roles-list
//	jsonschema -lines audit-entry   every line of stdout is one (JSON lines)
//	jsonschema -covered             every field of every view checked so far in this script was seen
//
// -covered makes a script prove that its instances exercise each schema whole, optional fields
// included, so that a field dropped from a view cannot pass unnoticed.
func cmdJSONSchema(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("usage: jsonschema [-lines] VIEW | jsonschema -covered")
	}
	seen, _ := ts.Value(schemaSeenKey{}).(schemaSeen)
	if len(args) == 1 && args[0] == "-covered" {
		views := make([]string, 0, len(seen))
		for view := range seen {
			views = append(views, view)
		}
		sort.Strings(views)
		if len(views) == 0 {
			ts.Fatalf("jsonschema -covered: no view was checked")
		}
		for _, view := range views {
			_, doc, err := loadSchema(view)
			ts.Check(err)
			declared := map[string]bool{}
			schemaFields(doc, "", declared)
			var unseen []string
			for field := range declared {
				if !seen[view][field] {
					unseen = append(unseen, field)
				}
			}
			sort.Strings(unseen)
			if len(unseen) > 0 {
				ts.Fatalf("jsonschema: view %s: no instance had %s", view, strings.Join(unseen, ", "))
			}
		}
		return
	}
	lines := len(args) == 2 && args[0] == "-lines"
	if lines {
		args = args[1:]
	}
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		ts.Fatalf("usage: jsonschema [-lines] VIEW | jsonschema -covered")
	}
	view := args[0]
	schema, doc, err := loadSchema(view)
	ts.Check(err)
	stdout := ts.ReadFile("stdout")
	values := []string{stdout}
	if lines {
		values = strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	}
	if strings.TrimSpace(stdout) == "" {
		ts.Fatalf("jsonschema %s: stdout is empty", view)
	}
	if seen[view] == nil {
		seen[view] = map[string]bool{}
	}
	for i, text := range values {
		value, err := viewschema.UnmarshalJSON(strings.NewReader(text))
		if err != nil {
			ts.Fatalf("jsonschema %s: value %d is not JSON: %v", view, i+1, err)
		}
		if err := schema.Validate(value); err != nil {
			// The error lists every violation with where it is, not just that there is one.
			ts.Fatalf("jsonschema %s: value %d does not match docs/schema/%s.json: %v", view, i+1, view, err)
		}
		instanceFields(doc, value, "", seen[view])
	}
}

// TestSchemasAreDocumentedAndChecked: every schema compiles (that each is valid JSON Schema, checked
// against the meta-schema, is internal/viewschema's TestViewSchemas), is named in
// docs/json-output.md, and is checked by some script; every command that takes -o json has such a
// schema; and the field-path bookkeeping behind -covered sees what it should.
func TestSchemasAreDocumentedAndChecked(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(schemaDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas in %s: %v", schemaDir, err)
	}
	manual, err := os.ReadFile(filepath.Join("..", "docs", "json-output.md"))
	if err != nil {
		t.Fatal(err)
	}
	scripts, err := filepath.Glob(filepath.Join("..", "testdata", "script", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for _, s := range scripts {
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(data)
	}
	checked := func(view string) bool {
		return regexp.MustCompile(`(?m)^\s*jsonschema (-lines )?` + regexp.QuoteMeta(view) + `\s*$`).Match(all.Bytes())
	}
	for _, f := range files {
		view := strings.TrimSuffix(filepath.Base(f), ".json")
		if _, _, err := loadSchema(view); err != nil {
			t.Errorf("schema %s: %v", view, err)
		}
		if !bytes.Contains(manual, []byte("schema/"+view+".json")) {
			t.Errorf("docs/json-output.md does not link schema/%s.json", view)
		}
		if !checked(view) {
			t.Errorf("no script checks any output against schema %s", view)
		}
	}

	// The other direction: every command that prints JSON has a schema a script checks, so a new
	// JSON view cannot ship undocumented. The schemas above are only those someone wrote.
	views := jsonViews(t, NewRootCommand())
	if len(views) == 0 {
		t.Fatal("no command takes -o json: the walk no longer finds the output flag")
	}
	for _, v := range views {
		if _, err := os.Stat(filepath.Join(schemaDir, v.view+".json")); err != nil {
			t.Errorf("%s -o json has no schema docs/schema/%s.json", v.path, v.view)
		} else if !checked(v.view) {
			t.Errorf("%s -o json: no script checks any output against schema %s", v.path, v.view)
		}
	}

	_, doc, err := loadSchema("keys-validate")
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	schemaFields(doc, "", declared)
	for _, want := range []string{"/roles/[]/verdict", "/roles/[]/reasons/*", "/inventory", "/summary/result"} {
		if !declared[want] {
			t.Errorf("schemaFields: %s not declared by keys-validate", want)
		}
	}
	var report any
	if err := json.Unmarshal([]byte(`{"roles":[{"verdict":"valid","reasons":{"tags:write":"x"}}],"extra":1}`), &report); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	instanceFields(doc, report, "", got)
	want := map[string]bool{"/roles": true, "/roles/[]/verdict": true, "/roles/[]/reasons": true, "/roles/[]/reasons/*": true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("instanceFields = %v, want %v", got, want)
	}
}

// viewOfCommand names the schema of the commands whose view is not named after the command, as
// "roles list" is roles-list: both audit commands print audit lines.
var viewOfCommand = map[string]string{
	"audit tail":   "audit-entry",
	"audit record": "audit-entry",
}

type jsonView struct{ path, view string }

// jsonViews walks the command tree for the commands whose -o/--output offers json, as outputFlag
// registers it: its completions are the formats the command accepts.
func jsonViews(t *testing.T, root *cobra.Command) []jsonView {
	t.Helper()
	var views []jsonView
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.Flags().Lookup("output") == nil {
			return
		}
		complete, ok := c.GetFlagCompletionFunc("output")
		if !ok {
			t.Errorf("%s: -o has no completions, so its formats are unknown (register it with outputFlag)", c.CommandPath())
			return
		}
		formats, _ := complete(c, nil, "")
		if !slices.Contains(formats, string(ui.JSON)) {
			return
		}
		path := strings.TrimPrefix(c.CommandPath(), root.Name()+" ")
		view, ok := viewOfCommand[path]
		if !ok {
			view = strings.ReplaceAll(path, " ", "-")
		}
		views = append(views, jsonView{path, view})
	}
	walk(root)
	// A name kept for a command that no longer offers JSON (renamed, or its -o gone) is stale.
	for path := range viewOfCommand {
		if !slices.ContainsFunc(views, func(v jsonView) bool { return v.path == path }) {
			t.Errorf("viewOfCommand names %q, which no command offering -o json has", path)
		}
	}
	return views
}
