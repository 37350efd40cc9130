package sandbox

import (
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/klrbac/klrbac/internal/catalog"
)

// route is one path template with the operations it serves per revision kind: the stable one, and
// the beta one a pre-release revision reaches.
type route struct {
	method   string
	template string
	segs     []string // "" marks a path parameter
	params   []string // parameter names, in path order
	literals int
	stable   *catalog.Operation
	beta     *catalog.Operation
}

// operationID names the route's operation before the revision has picked the stable or the beta
// one: a path has one or the other, as the catalog keeps a beta operation only where no stable one
// exists.
func (r *route) operationID() string {
	if r.stable != nil {
		return r.stable.ID
	}
	return r.beta.ID
}

// router finds routes by method, segment count and first resource segment, so a request compares
// itself with a handful of templates rather than all of them.
type router struct {
	index   map[routeKey][]*route
	methods map[routeKey][]string // segment shape (no method) → methods, for 405's Allow
}

// routeKey indexes templates; a struct of strings, so a lookup builds no string.
type routeKey struct {
	method       string
	segments     int
	root, second string // second is "*" for a parameter
}

var routes = sync.OnceValue(func() *router {
	rt := &router{index: map[routeKey][]*route{}, methods: map[routeKey][]string{}}
	byTemplate := map[string]*route{}
	add := func(op *catalog.Operation) {
		key := op.Method + " " + op.Path
		r := byTemplate[key]
		if r == nil {
			r = &route{method: op.Method, template: op.Path}
			for _, s := range strings.Split(strings.Trim(op.Path, "/"), "/") {
				if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
					r.segs = append(r.segs, "")
					r.params = append(r.params, s[1:len(s)-1])
				} else {
					r.segs = append(r.segs, s)
					r.literals++
				}
			}
			byTemplate[key] = r
			k := indexKey(op.Method, r.segs)
			rt.index[k] = append(rt.index[k], r)
			shape := shapeKey(r.segs)
			if !slices.Contains(rt.methods[shape], op.Method) {
				rt.methods[shape] = append(rt.methods[shape], op.Method)
			}
		}
		if op.Beta {
			r.beta = op
		} else {
			r.stable = op
		}
	}
	for _, ops := range [][]catalog.Operation{catalog.Operations(), catalog.BetaOperations()} {
		for i := range ops {
			add(&ops[i])
		}
	}
	for _, rs := range rt.index {
		// More literal segments first: /api/profiles/bulk is not a profile id.
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].literals > rs[j].literals })
	}
	for _, ms := range rt.methods {
		sort.Strings(ms)
	}
	return rt
})

func indexKey(method string, segs []string) routeKey {
	second := "*"
	if len(segs) > 1 && segs[1] != "" {
		second = segs[1]
	}
	return routeKey{method, len(segs), segs[0], second}
}

// shapeKey identifies the templates a concrete path could match regardless of method; it is only
// used to tell 405 from 404, so a coarse key (count, root, resource) is enough.
func shapeKey(segs []string) routeKey {
	return indexKey("", segs)
}

// match finds the route of a concrete path split into segments, and params maps the parameter
// names to their values.
func (rt *router) match(method string, segs []string) *route {
	for _, key := range [2]routeKey{indexKey(method, segs), indexKeyWild(method, segs)} {
		for _, r := range rt.index[key] {
			if r.matches(segs) {
				return r
			}
		}
	}
	return nil
}

func indexKeyWild(method string, segs []string) routeKey {
	return routeKey{method, len(segs), segs[0], "*"}
}

func (r *route) matches(segs []string) bool {
	if len(segs) != len(r.segs) {
		return false
	}
	for i, s := range r.segs {
		if s == "" {
			if segs[i] == "" {
				return false
			}
		} else if s != segs[i] {
			return false
		}
	}
	return true
}

// allowed lists the methods some template of this path's shape accepts, for a 405.
func (rt *router) allowed(segs []string) []string {
	var out []string
	for _, m := range rt.methods[shapeKey(segs)] {
		if rt.match(m, segs) != nil {
			out = append(out, m)
		}
	}
	return out
}

// params returns the path parameters' values by name.
func (r *route) paramValues(segs []string) map[string]string {
	if len(r.params) == 0 {
		return nil
	}
	out := make(map[string]string, len(r.params))
	j := 0
	for i, s := range r.segs {
		if s == "" {
			out[r.params[j]] = segs[i]
			j++
		}
	}
	return out
}
