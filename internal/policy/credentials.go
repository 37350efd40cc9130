package policy

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/yamlcheck"
)

// nameLists are the fields whose list items are names (permissions, scopes); key_env's value is a
// variable's name, and a user's value is a role's name.
var nameLists = []string{"permissions", "scopes", "extra_scopes"}

// CheckNames refuses a config file that holds a credential where a name belongs: any mapping key
// (role, permission, user, app and field names), a key_env value, a user's role, a listed
// permission or scope. Such a value would be printed as a name by roles list, keys list -o json,
// doctor, config show and CI annotations, so it is refused before anything else reads the file,
// and the problem names its place and line but never the value.
func CheckNames(file string, doc *yaml.Node) error {
	ps := &yamlcheck.Problems{File: file}
	if doc == nil {
		return nil
	}
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	checkNames(ps, root, "")
	return ps.ErrAsFound()
}

func checkNames(ps *yamlcheck.Problems, n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.SequenceNode:
		for _, item := range n.Content {
			checkNames(ps, item, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if refuseCredential(ps, k, orTop(path), "") {
				continue
			}
			child := k.Value
			if path != "" {
				child = path + "." + k.Value
			}
			switch {
			case v.Kind == yaml.ScalarNode && k.Value == "client_secret":
				// Reported here too, since the file is refused before the OAuth apps are read.
				ps.Add(k, "client secrets never go in the config file: klrbac oauth set-secret "+lastName(path)+", or KLAVIYO_OAUTH_CLIENT_SECRET",
					"%s: refusing a client secret in the config file", child)
			case v.Kind == yaml.ScalarNode && k.Value == "key_env":
				refuseCredential(ps, v, child, "key_env names the environment variable that holds the role's key, e.g. KLAVIYO_KEY_VIEWER; the key itself goes in that variable or the keyring (klrbac keys set ROLE)")
			case v.Kind == yaml.ScalarNode && path == "users":
				refuseCredential(ps, v, child, "a user's value is the name of a role, e.g. alice@example.com: viewer")
			case v.Kind == yaml.SequenceNode && slices.Contains(nameLists, k.Value):
				for _, item := range v.Content {
					if item.Kind == yaml.ScalarNode {
						refuseCredential(ps, item, child, "")
					}
				}
			}
			checkNames(ps, v, child)
		}
	}
}

// lastName is the last element of a dotted path: the app of oauth.apps.crm.
func lastName(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

func orTop(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

// refuseCredential adds a problem for n when its value looks like a credential, and says so.
func refuseCredential(ps *yamlcheck.Problems, n *yaml.Node, where, what string) bool {
	if n.Kind != yaml.ScalarNode || !mask.LooksSecret(n.Value) {
		return false
	}
	hint := "give a name here: keys and secrets live in the keyring (klrbac keys set ROLE, klrbac oauth set-secret APP) or in environment variables"
	if what != "" {
		hint = what
	}
	ps.Add(n, hint+"; if the file was shared or committed, rotate the credential",
		"%s: this looks like a credential (a key, token or secret) where a name belongs, so it is not repeated here", where)
	return true
}
