package config

import (
	"errors"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/yamlcheck"
)

// Validation is `config validate`'s verdict as one document (docs/schema/config-validate.json): the
// file judged, whether it is valid, its size when it is, and every problem, with line and hints.
type Validation struct {
	File        string              `json:"file" yaml:"file"`
	Valid       bool                `json:"valid" yaml:"valid"`
	Roles       int                 `json:"roles" yaml:"roles"`
	Permissions int                 `json:"permissions" yaml:"permissions"`
	Users       int                 `json:"users" yaml:"users"`
	Problems    []ValidationProblem `json:"problems" yaml:"problems"`
}

// ValidationProblem is one problem of a Validation; anything shaped like a credential is masked.
type ValidationProblem struct {
	Line    int      `json:"line,omitempty" yaml:"line,omitempty"`
	Message string   `json:"message" yaml:"message"`
	Hints   []string `json:"hints" yaml:"hints"`
}

// Judged is the verdict on the config opts name, as loading and checking it gave cfg and err.
func Judged(opts Options, cfg *Config, err error) Validation {
	v := Validation{Valid: err == nil, Problems: []ValidationProblem{}}
	if cfg != nil {
		v.File = cfg.File
	} else if file, ferr := Find(opts); ferr == nil {
		v.File = file
	}
	if err == nil {
		v.Roles, v.Permissions, v.Users = len(cfg.Policy.Roles), len(cfg.Policy.Permissions), len(cfg.Policy.Users)
	}
	for _, e := range fault.Problems(err) {
		if e == nil {
			continue
		}
		p := ValidationProblem{Message: mask.InText(e.Error()), Hints: []string{}}
		var yp *yamlcheck.Problem
		if errors.As(e, &yp) {
			p.Line, p.Message = yp.Line, mask.InText(yp.Msg)
		}
		for _, h := range fault.Hints(e) {
			p.Hints = append(p.Hints, mask.InText(h))
		}
		v.Problems = append(v.Problems, p)
	}
	return v
}
