package viewschema

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The views' schemas are checked here with a full JSON Schema implementation as well: it proves
// them valid JSON Schema 2020-12 (against the meta-schema), and it is the reference this package
// must judge like.

var schemaFiles = filepath.Join("..", "..", "docs", "schema", "*.json")

func reference(t *testing.T, doc any) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	if err := c.AddResource("mem://schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("mem://schema.json")
	if err != nil {
		t.Fatalf("the reference does not compile the schema: %v", err)
	}
	return s
}

func decode(t *testing.T, s string) any {
	t.Helper()
	v, err := UnmarshalJSON(strings.NewReader(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

// TestKeywords: each keyword this package implements, on values it must accept and refuse, judged
// the same by the reference.
func TestKeywords(t *testing.T) {
	for _, tc := range []struct {
		schema string
		valid  []string
		bad    []string
	}{
		{`{"type": "object"}`, []string{`{}`, `{"a": 1}`}, []string{`[]`, `"x"`, `1`, `null`, `true`}},
		{`{"type": "array"}`, []string{`[]`, `[1, "x"]`}, []string{`{}`, `"x"`}},
		{`{"type": "string"}`, []string{`""`, `"x"`}, []string{`1`, `null`, `[]`}},
		{`{"type": "integer"}`, []string{`0`, `-3`, `1.0`, `1e2`, `12345678901234567890123`}, []string{`1.5`, `"1"`, `true`, `null`}},
		{`{"type": "number"}`, []string{`0`, `1.5`, `-2e-3`}, []string{`"1"`, `null`}},
		{`{"type": "boolean"}`, []string{`true`, `false`}, []string{`0`, `"true"`, `null`}},
		{`{"type": "null"}`, []string{`null`}, []string{`0`, `""`, `false`}},
		{`{"type": ["integer", "null"]}`, []string{`null`, `3`}, []string{`"3"`, `3.5`}},
		{`{"properties": {"a": {"type": "string"}}}`, []string{`{}`, `{"a": "x"}`, `{"b": 1}`, `[]`, `1`}, []string{`{"a": 1}`}},
		{`{"required": ["a", "b"]}`, []string{`{"a": 1, "b": null}`, `[]`, `"a"`}, []string{`{}`, `{"a": 1}`}},
		{`{"properties": {"a": true}, "additionalProperties": false}`, []string{`{}`, `{"a": 1}`, `[1]`}, []string{`{"b": 1}`, `{"a": 1, "b": 1}`}},
		{`{"properties": {"a": true}, "additionalProperties": {"type": "integer"}}`, []string{`{"a": "x", "b": 2}`}, []string{`{"b": "x"}`}},
		{`{"additionalProperties": {"type": "object", "additionalProperties": {"type": "string"}}}`, []string{`{"x": {"y": "z"}}`}, []string{`{"x": {"y": 1}}`, `{"x": 1}`}},
		{`{"items": {"type": "string"}}`, []string{`[]`, `["a", "b"]`, `{}`}, []string{`["a", 1]`, `[null]`}},
		{`{"items": {"items": {"type": "integer"}}}`, []string{`[[1], []]`}, []string{`[[1, "x"]]`}},
		{`{"enum": ["a", "b"]}`, []string{`"a"`, `"b"`}, []string{`"c"`, `"A"`, `1`, `null`}},
		{`{"enum": [1, null, [1], {"k": "v"}]}`, []string{`1`, `1.0`, `null`, `[1]`, `{"k": "v"}`}, []string{`2`, `[1, 1]`, `{"k": "w"}`, `"1"`}},
		{`{"minimum": 0}`, []string{`0`, `5`, `0.5`, `"-1"`, `null`}, []string{`-1`, `-0.5`}},
		{`{"minimum": 1.5}`, []string{`1.5`, `2`}, []string{`1`, `1.49`}},
		{`{"pattern": "^[0-9a-f]{4}$"}`, []string{`"00af"`, `1`, `null`}, []string{`"00AF"`, `"00af0"`, `""`}},
		{`{"pattern": "b"}`, []string{`"abc"`}, []string{`"ac"`}},
		{`true`, []string{`1`, `{}`}, nil},
		{`false`, nil, []string{`1`, `{}`, `null`}},
		{`{"$schema": "` + Draft + `", "$id": "https://example.com/x.json", "title": "t", "description": "d", "type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "description": "d"}}, "required": ["n"], "additionalProperties": false}`,
			[]string{`{"n": 0}`}, []string{`{"n": -1}`, `{}`, `{"n": 1, "m": 2}`, `{"n": "1"}`}},
	} {
		doc := decode(t, tc.schema)
		s, err := Compile(doc)
		if err != nil {
			t.Errorf("%s: %v", tc.schema, err)
			continue
		}
		ref := reference(t, doc)
		for _, v := range tc.valid {
			if err := s.Validate(decode(t, v)); err != nil {
				t.Errorf("%s: %s is valid, got %v", tc.schema, v, err)
			}
			if err := ref.Validate(decode(t, v)); err != nil {
				t.Errorf("%s: the reference refuses %s: %v", tc.schema, v, err)
			}
		}
		for _, v := range tc.bad {
			if err := s.Validate(decode(t, v)); err == nil {
				t.Errorf("%s: %s is not valid, got no error", tc.schema, v)
			}
			if err := ref.Validate(decode(t, v)); err == nil {
				t.Errorf("%s: the reference accepts %s", tc.schema, v)
			}
		}
	}
}

// TestRefusesWhatItDoesNotImplement: a keyword outside the subset, or a malformed one, fails to
// compile rather than being ignored.
func TestRefusesWhatItDoesNotImplement(t *testing.T) {
	for _, schema := range []string{
		`{"maximum": 3}`,
		`{"properties": {"a": {"format": "date-time"}}}`,
		`{"items": {"oneOf": [{"type": "string"}]}}`,
		`{"$ref": "#/$defs/x", "$defs": {"x": true}}`,
		`{"patternProperties": {"^a": true}}`,
		`{"type": "float"}`,
		`{"type": 1}`,
		`{"required": "a"}`,
		`{"pattern": "("}`,
		`{"minimum": "0"}`,
		`{"enum": "a"}`,
		`{"properties": []}`,
		`{"items": 1}`,
		`{"$schema": "http://json-schema.org/draft-07/schema#"}`,
		`1`,
	} {
		if _, err := Compile(decode(t, schema)); err == nil {
			t.Errorf("%s compiled", schema)
		}
	}
}

func TestUnmarshalJSONTakesOneValue(t *testing.T) {
	for _, bad := range []string{``, `{} {}`, `{"a": 1} x`, `{"a": `} {
		if _, err := UnmarshalJSON(strings.NewReader(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
	v, err := UnmarshalJSON(strings.NewReader(" {\"n\": 12345678901234567890}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n := v.(map[string]any)["n"]; n != json.Number("12345678901234567890") {
		t.Errorf("the number is %#v, want it as written", n)
	}
}

// TestErrorsSayWhere: every problem is reported, each with where it is.
func TestErrorsSayWhere(t *testing.T) {
	s, err := Compile(decode(t, `{"type": "object", "properties": {"roles": {"items": {"properties": {"verdict": {"enum": ["valid"]}}, "additionalProperties": false}}}, "required": ["summary"]}`))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Validate(decode(t, `{"roles": [{"verdict": "valid"}, {"verdict": "odd", "x/y": 1}]}`))
	ve, ok := err.(*ValidationError)
	if !ok {
		t.Fatalf("got %v, want a *ValidationError", err)
	}
	want := []string{
		`at /: missing property "summary"`,
		`at /roles/1/verdict: value "odd" is not one of ["valid"]`,
		`at /roles/1: property "x/y" is not allowed`,
	}
	if fmt.Sprint(ve.Problems) != fmt.Sprint(want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(ve.Problems, "\n"), strings.Join(want, "\n"))
	}
}

// TestViewSchemas: every documented view's schema is valid JSON Schema 2020-12 (the reference
// compiles it against the meta-schema), compiles here, and is judged here as the reference judges
// it, on many values made from the schema itself: whole ones and ones with a part missing, added,
// of the wrong type or out of range.
func TestViewSchemas(t *testing.T) {
	files, err := filepath.Glob(schemaFiles)
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas at %s: %v", schemaFiles, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, doc, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			ref := reference(t, doc)
			rng := rand.New(rand.NewPCG(1, uint64(len(f))))
			var valid, invalid int
			for i := range 400 {
				// The first values are made whole, so that each schema is seen accepting some.
				g := &generator{rng: rng, mutate: 0.0}
				if i >= 20 {
					g.mutate = 0.03
				}
				v := roundTrip(t, g.value(doc))
				got, want := s.Validate(v), ref.Validate(v)
				if (got == nil) != (want == nil) {
					t.Fatalf("on %s:\nhere: %v\nthe reference: %v", show(v), got, want)
				}
				if want == nil {
					valid++
				} else {
					invalid++
				}
			}
			if valid == 0 || invalid == 0 {
				t.Errorf("%d valid and %d invalid values: the comparison tried one side only", valid, invalid)
			}
		})
	}
}

// roundTrip makes a generated value one as UnmarshalJSON decodes it (numbers as json.Number).
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, string(b))
}

// generator makes values from a schema, breaking some part of them with probability mutate at
// each step.
type generator struct {
	rng    *rand.Rand
	mutate float64
}

func (g *generator) broken() bool { return g.rng.Float64() < g.mutate }

// wild is any JSON value, for a wrong type or an unexpected property.
func (g *generator) wild() any {
	return []any{nil, true, "x", json.Number("-1"), json.Number("2.5"), json.Number("7"), []any{}, map[string]any{}}[g.rng.IntN(8)]
}

func (g *generator) value(schema any) any {
	m, ok := schema.(map[string]any)
	if !ok || g.broken() {
		return g.wild()
	}
	if enum, ok := m["enum"].([]any); ok {
		if g.broken() {
			return "not-in-the-enum"
		}
		return enum[g.rng.IntN(len(enum))]
	}
	var types []string
	switch t := m["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, e := range t {
			types = append(types, e.(string))
		}
	}
	if len(types) == 0 {
		return g.wild()
	}
	switch types[g.rng.IntN(len(types))] {
	case "object":
		out := map[string]any{}
		props, _ := m["properties"].(map[string]any)
		required := map[string]bool{}
		if req, ok := m["required"].([]any); ok {
			for _, r := range req {
				required[r.(string)] = true
			}
		}
		names := make([]string, 0, len(props))
		for name := range props {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			// Optional properties are there half the time; a required one is left out only when
			// this step breaks the value.
			if required[name] && g.broken() || !required[name] && g.rng.IntN(2) == 0 {
				continue
			}
			out[name] = g.value(props[name])
		}
		switch extra := m["additionalProperties"].(type) {
		case map[string]any:
			for i := range g.rng.IntN(3) {
				out[fmt.Sprintf("k%d", i)] = g.value(extra)
			}
		default:
			if g.broken() {
				out["unexpected"] = g.wild()
			}
		}
		return out
	case "array":
		out := []any{}
		for range g.rng.IntN(3) {
			out = append(out, g.value(m["items"]))
		}
		return out
	case "string":
		if p, ok := m["pattern"].(string); ok && p == "^[0-9a-f]{64}$" && !g.broken() {
			return strings.Repeat("0a", 32)
		}
		return []string{"", "x", "0a0a", strings.Repeat("0A", 32)}[g.rng.IntN(4)]
	case "integer":
		if g.broken() {
			return json.Number("1.5")
		}
		if g.broken() {
			return json.Number("-1")
		}
		return json.Number(fmt.Sprint(g.rng.IntN(100)))
	case "number":
		return json.Number("0.25")
	case "boolean":
		return g.rng.IntN(2) == 0
	case "null":
		return nil
	}
	return g.wild()
}
