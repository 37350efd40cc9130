// Package suggest finds the names a mistyped name was probably meant to be, for "did you mean" hints.
package suggest

import (
	"sort"
	"strings"
)

// Closest returns up to n candidates near enough to input to be a plausible typo of it, nearest
// first. A candidate equal to input ignoring case always qualifies.
func Closest(input string, candidates []string, n int) []string {
	type scored struct {
		name string
		dist int
	}
	in := strings.ToLower(input)
	limit := max(2, len(in)/3)
	var hits []scored
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := Distance(in, lc)
		// A prefix or suffix typed in full (profiles for profiles:read) is a strong hint too.
		if d > limit && len(in) >= 5 && strings.Contains(lc, in) {
			d = limit
		}
		if d <= limit {
			hits = append(hits, scored{c, d})
		}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].dist != hits[j].dist {
			return hits[i].dist < hits[j].dist
		}
		return hits[i].name < hits[j].name
	})
	var out []string
	for _, h := range hits {
		// A far second guess is noise next to a near first one.
		if len(out) == n || h.dist > hits[0].dist+1 {
			break
		}
		out = append(out, h.name)
	}
	return out
}

// Distance is the Levenshtein edit distance between a and b, counted in bytes: names here are ASCII.
func Distance(a, b string) int {
	if a == b {
		return 0
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Hint renders candidates as a did-you-mean hint, or "" when there are none.
func Hint(candidates []string) string {
	switch len(candidates) {
	case 0:
		return ""
	case 1:
		return "did you mean " + quote(candidates[0]) + "?"
	}
	q := make([]string, len(candidates))
	for i, c := range candidates {
		q[i] = quote(c)
	}
	return "did you mean one of " + strings.Join(q, ", ") + "?"
}

func quote(s string) string { return `"` + s + `"` }
