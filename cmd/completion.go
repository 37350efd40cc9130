package cmd

import (
	"fmt"
	"io"
)

// CompletionShells are the shells klrbac ships completion scripts for, with the file each is kept in
// under completions/.
var CompletionShells = map[string]string{
	"bash":       "klrbac.bash",
	"zsh":        "_klrbac",
	"fish":       "klrbac.fish",
	"powershell": "klrbac.ps1",
}

// GenerateCompletion writes the completion script for shell. Names of roles, permissions and users
// complete dynamically: the scripts call back into klrbac, which reads the current policy.
func GenerateCompletion(shell string, w io.Writer) error {
	root := NewRootCommand()
	switch shell {
	case "bash":
		return root.GenBashCompletionV2(w, true)
	case "zsh":
		return root.GenZshCompletion(w)
	case "fish":
		return root.GenFishCompletion(w, true)
	case "powershell":
		return root.GenPowerShellCompletionWithDesc(w)
	}
	return fmt.Errorf("no completion for shell %q", shell)
}
