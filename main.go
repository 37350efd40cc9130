// Command klrbac gives teams role-based access control over Klaviyo: roles, permissions and scopes
// made explicit, checked, proven against real keys and audited.
package main

import (
	"os"

	"github.com/klrbac/klrbac/cmd"
)

func main() { os.Exit(cmd.Execute()) }
