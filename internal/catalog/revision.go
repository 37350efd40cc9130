package catalog

import "strings"

// KnownRevision reports whether revision is one the catalog describes: the revision of the spec it
// was built from, or that revision's beta (.pre). Klaviyo serves other revisions too, but what their
// operations, scopes and rate limits are, klrbac does not know: its probes and its reading of
// answers were made for SpecRevision.
func KnownRevision(revision string) bool {
	return strings.TrimSuffix(revision, ".pre") == SpecRevision
}
