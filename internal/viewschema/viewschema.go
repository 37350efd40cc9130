// Package viewschema checks JSON values against the schemas of klrbac's -o json views
// (docs/schema/VIEW.json), for tests.
//
// It implements the part of JSON Schema 2020-12 those schemas use: type, properties, required,
// additionalProperties, items, enum, minimum and pattern, with title, description, $schema and $id
// as annotations. A schema with any other keyword does not compile, so a schema cannot come to rely
// on a rule that is silently not checked. A general JSON Schema library would do the same job, but
// the command-line tests run their test binary as klrbac for every command of every script, and
// such a library's start-up work (compiling the meta-schemas of every draft) then ran hundreds of
// times per test run for nothing; this package's tests check that it judges like one.
package viewschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Draft is the JSON Schema dialect the views' schemas declare.
const Draft = "https://json-schema.org/draft/2020-12/schema"

// Schema is a compiled schema.
type Schema struct {
	// always is set for the boolean schemas true (everything is valid) and false (nothing is).
	always *bool

	types                []string
	properties           map[string]*Schema
	required             []string
	additionalProperties *Schema
	items                *Schema
	enum                 []any
	minimum              *big.Rat
	pattern              *regexp.Regexp
}

// annotations are the keywords that say something about a schema without constraining values.
var annotations = map[string]bool{"$schema": true, "$id": true, "title": true, "description": true}

var knownTypes = map[string]bool{"object": true, "array": true, "string": true, "integer": true, "number": true, "boolean": true, "null": true}

// Load reads and compiles a schema file. It returns the schema as decoded too, for callers that
// walk its declarations.
func Load(path string) (*Schema, any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	doc, err := UnmarshalJSON(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", path, err)
	}
	s, err := Compile(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", path, err)
	}
	return s, doc, nil
}

// UnmarshalJSON decodes exactly one JSON value, keeping numbers as written (json.Number), as
// Compile and Validate expect them. Anything after the value is an error.
func UnmarshalJSON(r io.Reader) (any, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid character after top-level value")
	}
	return v, nil
}

// Compile compiles a schema decoded by UnmarshalJSON. A root schema that names its dialect must
// name Draft.
func Compile(doc any) (*Schema, error) {
	if m, ok := doc.(map[string]any); ok {
		if d, ok := m["$schema"]; ok && d != Draft {
			return nil, fmt.Errorf("$schema is %v; only %s is supported", d, Draft)
		}
	}
	return compile(doc, "")
}

func compile(doc any, at string) (*Schema, error) {
	if b, ok := doc.(bool); ok {
		return &Schema{always: &b}, nil
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: a schema is an object or a boolean, not %s", where(at), kindOf(doc))
	}
	s := &Schema{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		kw := at + "/" + k
		var err error
		switch k {
		case "type":
			s.types, err = compileTypes(v, kw)
		case "properties":
			props, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: must be an object", where(kw))
			}
			s.properties = map[string]*Schema{}
			for name, sub := range props {
				if s.properties[name], err = compile(sub, kw+"/"+name); err != nil {
					return nil, err
				}
			}
		case "required":
			s.required, err = stringList(v, kw)
		case "additionalProperties":
			s.additionalProperties, err = compile(v, kw)
		case "items":
			s.items, err = compile(v, kw)
		case "enum":
			list, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("%s: must be an array", where(kw))
			}
			s.enum = list
		case "minimum":
			if s.minimum, ok = number(v); !ok {
				return nil, fmt.Errorf("%s: must be a number", where(kw))
			}
		case "pattern":
			p, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%s: must be a string", where(kw))
			}
			if s.pattern, err = regexp.Compile(p); err != nil {
				return nil, fmt.Errorf("%s: %v", where(kw), err)
			}
		default:
			if !annotations[k] {
				return nil, fmt.Errorf("%s: keyword %q is not one this checker implements", where(kw), k)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

func compileTypes(v any, at string) ([]string, error) {
	var types []string
	switch t := v.(type) {
	case string:
		types = []string{t}
	case []any:
		var err error
		if types, err = stringList(t, at); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s: must be a string or an array of strings", where(at))
	}
	for _, t := range types {
		if !knownTypes[t] {
			return nil, fmt.Errorf("%s: unknown type %q", where(at), t)
		}
	}
	return types, nil
}

func stringList(v any, at string) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: must be an array of strings", where(at))
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%s: must be an array of strings", where(at))
		}
		out = append(out, s)
	}
	return out, nil
}

// ValidationError lists every place where a value breaks its schema.
type ValidationError struct {
	Problems []string // "at /roles/0/verdict: ...", in the order found
}

func (e *ValidationError) Error() string {
	return "value does not match the schema:\n  " + strings.Join(e.Problems, "\n  ")
}

// Validate checks a value decoded by UnmarshalJSON; the error is a *ValidationError.
func (s *Schema) Validate(v any) error {
	var problems []string
	s.validate(v, "", &problems)
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	return nil
}

func (s *Schema) validate(v any, at string, problems *[]string) {
	fail := func(format string, args ...any) {
		*problems = append(*problems, where(at)+": "+fmt.Sprintf(format, args...))
	}
	if s.always != nil {
		if !*s.always {
			fail("no value is allowed here")
		}
		return
	}
	if len(s.types) > 0 && !hasType(v, s.types) {
		fail("got %s, want %s", kindOf(v), strings.Join(s.types, " or "))
	}
	if s.enum != nil && !inEnum(v, s.enum) {
		fail("value %s is not one of %s", show(v), show(s.enum))
	}
	switch v := v.(type) {
	case map[string]any:
		for _, name := range s.required {
			if _, ok := v[name]; !ok {
				fail("missing property %q", name)
			}
		}
		names := make([]string, 0, len(v))
		for name := range v {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			sub := at + "/" + escapePointer(name)
			if p, ok := s.properties[name]; ok {
				p.validate(v[name], sub, problems)
			} else if s.additionalProperties != nil {
				if a := s.additionalProperties; a.always != nil && !*a.always {
					fail("property %q is not allowed", name)
				} else {
					a.validate(v[name], sub, problems)
				}
			}
		}
	case []any:
		if s.items != nil {
			for i, item := range v {
				s.items.validate(item, at+"/"+strconv.Itoa(i), problems)
			}
		}
	case string:
		if s.pattern != nil && !s.pattern.MatchString(v) {
			fail("%q does not match pattern %q", v, s.pattern.String())
		}
	case json.Number:
		if s.minimum != nil {
			if n, ok := number(v); ok && n.Cmp(s.minimum) < 0 {
				fail("%s is less than the minimum %s", v, s.minimum.RatString())
			}
		}
	}
}

func hasType(v any, types []string) bool {
	for _, t := range types {
		switch t {
		case "object":
			if _, ok := v.(map[string]any); ok {
				return true
			}
		case "array":
			if _, ok := v.([]any); ok {
				return true
			}
		case "string":
			if _, ok := v.(string); ok {
				return true
			}
		case "boolean":
			if _, ok := v.(bool); ok {
				return true
			}
		case "null":
			if v == nil {
				return true
			}
		case "number":
			if _, ok := number(v); ok {
				return true
			}
		case "integer":
			// As JSON Schema has it: a number with no fractional part, however it is written (1.0).
			if n, ok := number(v); ok && n.IsInt() {
				return true
			}
		}
	}
	return false
}

// number reads a JSON number exactly.
func number(v any) (*big.Rat, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(string(n))
	return r, ok
}

func inEnum(v any, enum []any) bool {
	for _, e := range enum {
		if equal(v, e) {
			return true
		}
	}
	return false
}

// equal is JSON equality: numbers by value (1 and 1.0 are equal), objects and arrays member by
// member.
func equal(a, b any) bool {
	switch a := a.(type) {
	case json.Number:
		x, ok1 := number(a)
		y, ok2 := number(b)
		return ok1 && ok2 && x.Cmp(y) == 0
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, av := range a {
			bv, ok := bm[k]
			if !ok || !equal(av, bv) {
				return false
			}
		}
		return true
	case []any:
		bl, ok := b.([]any)
		if !ok || len(a) != len(bl) {
			return false
		}
		for i := range a {
			if !equal(a[i], bl[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

func kindOf(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	case json.Number:
		if n, ok := number(v); ok && n.IsInt() {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

func show(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(b.String())
}

// where names a place as a JSON Pointer, "/" for the root.
func where(at string) string {
	if at == "" {
		return "at /"
	}
	return "at " + at
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
