package catalog

import (
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/klrbac/klrbac/internal/suggest"
)

type template struct {
	op       *Operation
	segments []string // "" marks a path parameter
}

var templates = sync.OnceValue(func() []template {
	var out []template
	for _, ops := range [][]Operation{stableOperations(), betaOperations()} {
		for i := range ops {
			out = append(out, template{op: &ops[i], segments: templateSegments(ops[i].Path)})
		}
	}
	return out
})

// shape is what a call's template must share with it: the method and the number of segments.
type shape struct {
	method   string
	segments int
}

// shapes groups the templates by shape, in catalog order, so that a call (the proxy finds one for
// every request) is matched against the few templates of its shape, not the whole catalog.
var shapes = sync.OnceValue(func() map[shape][]template {
	out := map[shape][]template{}
	for _, t := range templates() {
		k := shape{t.op.Method, len(t.segments)}
		out[k] = append(out[k], t)
	}
	return out
})

func templateSegments(path string) []string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = ""
		}
	}
	return segs
}

// NormalizePath reduces what a user may paste (a full URL, a query string, a trailing slash) to the
// path Klaviyo routes on.
func NormalizePath(raw string) string {
	p := strings.TrimSpace(raw)
	// Only a URL with a host needs parsing; a path (one leading slash, not two) cannot have one.
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		if u, err := url.Parse(p); err == nil && u.Host != "" {
			p = u.Path
		}
	}
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	p = strings.TrimRight(p, "/")
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}

// typedSegments are the segments of a path as people type it, mended for comparison only: upper
// case lowered, empty segments (doubled slashes) dropped, and "api" put first when it is missing.
// Find does not mend them: Klaviyo routes paths as given, so /API/PROFILES is not /api/profiles.
func typedSegments(path string) []string {
	var segs []string
	for _, s := range strings.Split(NormalizePath(path), "/") {
		if s != "" {
			segs = append(segs, strings.ToLower(s))
		}
	}
	if len(segs) == 0 || segs[0] != "api" {
		segs = append([]string{"api"}, segs...)
	}
	return segs
}

// Find returns the operation that a concrete call such as GET /api/profiles/01HXYZ reaches. Literal
// segments win over parameters, so /api/profiles/bulk is not read as a profile id; stable operations
// win over beta ones.
func Find(method, path string) (Operation, bool) {
	method, segs := callShape(method, path)
	return match(shapes()[shape{method, len(segs)}], method, segs)
}

// find is Find searching ts.
func find(ts []template, method, path string) (Operation, bool) {
	method, segs := callShape(method, path)
	return match(ts, method, segs)
}

// callShape is a call's method and path segments, normalized once: normalizing a normalized path
// again can read it otherwise ("//api/lists" has a host).
func callShape(method, path string) (string, []string) {
	return strings.ToUpper(strings.TrimSpace(method)), strings.Split(strings.Trim(NormalizePath(path), "/"), "/")
}

// match finds among ts the template of the method that segs fill, literal segments first.
func match(ts []template, method string, segs []string) (Operation, bool) {
	var best *template
	bestLiterals := -1
	for i := range ts {
		t := &ts[i]
		if t.op.Method != method || len(t.segments) != len(segs) {
			continue
		}
		literals, ok := 0, true
		for j, s := range t.segments {
			if s == "" {
				if segs[j] == "" {
					ok = false
					break
				}
				continue
			}
			if s != segs[j] {
				ok = false
				break
			}
			literals++
		}
		if ok && literals > bestLiterals {
			best, bestLiterals = t, literals
		}
	}
	if best == nil {
		return Operation{}, false
	}
	return *best.op, true
}

// Nearest returns up to n operations whose templates look most like the call, for a hint when Find
// fails: segment by segment, a parameter matches anything and a literal costs its edit distance.
func Nearest(method, path string, n int) []Operation {
	method = strings.ToUpper(strings.TrimSpace(method))
	segs := typedSegments(path)
	type scored struct {
		op   *Operation
		cost int
	}
	var all []scored
	for _, t := range templates() {
		cost := 0
		if t.op.Method != method {
			cost += 3
		}
		for j := 0; j < max(len(segs), len(t.segments)); j++ {
			switch {
			case j >= len(segs) || j >= len(t.segments):
				cost += 8
			case t.segments[j] == "":
			default:
				cost += suggest.Distance(segs[j], t.segments[j])
			}
		}
		all = append(all, scored{t.op, cost})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].cost < all[j].cost })
	var out []Operation
	for _, s := range all {
		if len(out) == n {
			break
		}
		out = append(out, *s.op)
	}
	return out
}
