package proxy

import (
	"context"
	"net/netip"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/secrets"
)

// Loader reads the settings a proxy enforces from the config: at start and at every reload.
type Loader struct {
	Config config.Options
	// OpenStore opens the keyring as the config says (nil: the OS keyring, per keyring.backend and
	// keyring.timeout).
	OpenStore func(*config.Config) secrets.Store
	// Getenv reads role key variables (nil: os.Getenv).
	Getenv func(string) string
}

// Load reads the config, the alert rules, the trusted proxies and every role's key. A config that
// fails validation is an error and nothing of it is used.
func (l Loader) Load(ctx context.Context) (*Settings, *config.Config, error) {
	cfg, err := config.Load(l.Config)
	if err != nil {
		return nil, nil, err
	}
	rules, err := cfg.AlertRules()
	if err != nil {
		return nil, nil, err
	}
	trusted, err := trustedProxies(cfg)
	if err != nil {
		return nil, nil, err
	}
	source := cfg.File
	if source == "" {
		source = cfg.Policy.Source
	}
	s := &Settings{Policy: cfg.Policy, Rules: rules, TrustedProxies: trusted, Source: source, Keys: map[string]RoleKey{}}
	open := l.OpenStore
	if open == nil {
		open = func(cfg *config.Config) secrets.Store {
			return secrets.New(secrets.Options{Off: cfg.KeyringOff(), Timeout: cfg.KeyringTimeout()})
		}
	}
	store := open(cfg)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, r := range cfg.Policy.Roles {
		// At once: a keyring that stalls costs its timeout once, not once per role.
		wg.Go(func() {
			res, err := secrets.ResolveRoleKey(ctx, store, r, secrets.ResolveOptions{Getenv: l.Getenv})
			mu.Lock()
			rk := RoleKey{Key: res.Value, Err: err}
			if !res.Value.IsZero() {
				rk.fingerprint = res.Value.Fingerprint()
			}
			s.Keys[r.Name] = rk
			mu.Unlock()
		})
	}
	wg.Wait()
	return s, cfg, nil
}

// trustedProxies reads proxy.trusted_proxies: addresses or CIDR prefixes of the proxies whose
// X-Forwarded-For is believed.
func trustedProxies(cfg *config.Config) ([]netip.Prefix, error) {
	sec, ok := cfg.Raw("proxy")
	if !ok || sec.Value == nil || sec.Value.Kind != yaml.MappingNode {
		return nil, nil
	}
	var out []netip.Prefix
	for i := 0; i+1 < len(sec.Value.Content); i += 2 {
		if sec.Value.Content[i].Value != "trusted_proxies" {
			continue
		}
		v := sec.Value.Content[i+1]
		if v.Kind != yaml.SequenceNode {
			return nil, fault.Configf("%s:%d: proxy.trusted_proxies: expected a list of addresses or CIDR prefixes", cfg.File, v.Line).
				Hint("for example: trusted_proxies: [10.0.0.0/8, 192.0.2.7]")
		}
		for _, item := range v.Content {
			s := strings.TrimSpace(item.Value)
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil || item.Kind != yaml.ScalarNode {
					return nil, fault.Configf("%s:%d: proxy.trusted_proxies: %q is neither an address nor a CIDR prefix", cfg.File, item.Line, s).
						Hint("for example: 10.0.0.0/8 or 192.0.2.7")
				}
				p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			}
			out = append(out, p.Masked())
		}
	}
	return out, nil
}
