package config

import (
	"os"
	"path/filepath"
	"testing"
)

// A valid file is judged with its size; a broken one with each problem on its line, with its hints,
// and no size.
func TestJudged(t *testing.T) {
	cfg, err := Parse("klrbac.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := Judged(Options{}, cfg, nil)
	if !v.Valid || v.File != "klrbac.yaml" || v.Roles != 5 || v.Permissions != 8 || v.Problems == nil || len(v.Problems) != 0 {
		t.Errorf("valid file: %+v", v)
	}
	path := filepath.Join("..", "..", "testdata", "policies", "unknown-user-role.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("unknown-user-role.yaml", data, nil)
	v = Judged(Options{File: path}, nil, err)
	want := ValidationProblem{Line: 2, Message: `user alice@example.com: unknown role "markter"`, Hints: []string{`did you mean "marketer"?`}}
	if v.Valid || v.File != path || v.Roles != 0 || len(v.Problems) != 1 || v.Problems[0].Line != want.Line ||
		v.Problems[0].Message != want.Message || len(v.Problems[0].Hints) != 1 || v.Problems[0].Hints[0] != want.Hints[0] {
		t.Errorf("broken file: %+v", v)
	}
}
