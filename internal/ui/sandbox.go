package ui

import (
	"fmt"

	"github.com/klrbac/klrbac/internal/sandbox"
)

// SandboxListing writes the sandbox's start-up listing: the URL alone on the first line, the
// readiness signal scripts wait for, then the accounts' keys and OAuth clients.
func (s *IO) SandboxListing(url string, listedKeys []sandbox.ListedKey, listedClients []sandbox.ListedClient) error {
	if _, err := fmt.Fprintln(s.Out, url); err != nil {
		return err
	}
	var keys, clients [][]string
	for _, k := range listedKeys {
		keys = append(keys, []string{k.Account, k.Name, k.Value, k.Status, JoinOrDash(k.Scopes)})
	}
	for _, c := range listedClients {
		clients = append(clients, []string{c.Account, c.Name, c.ClientID, c.Secret, JoinOrDash(c.RedirectURIs)})
	}
	if len(keys) > 0 {
		fmt.Fprintln(s.Out)
		if err := s.Table([]string{"ACCOUNT", "KEY", "VALUE", "STATUS", "SCOPES"}, keys); err != nil {
			return err
		}
	}
	if len(clients) > 0 {
		fmt.Fprintln(s.Out)
		if err := s.Table([]string{"ACCOUNT", "OAUTH CLIENT", "CLIENT ID", "SECRET", "REDIRECT URIS"}, clients); err != nil {
			return err
		}
	}
	return nil
}
