package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	dbus "github.com/godbus/dbus/v5"
)

func init() {
	register(benchmark{
		name: "keys-list",
		what: "whole-process time of `klrbac keys list` for the 5 default roles: keys in a real Secret Service vs KLRBAC_KEYRING=off with keys in the environment",
		run:  runKeysList,
	})
}

var defaultRoles = []string{"admin", "marketer", "developer", "viewer", "service"}

// secretService is a Secret Service of the benchmark's own: a private session bus and an unlocked
// gnome-keyring with a throwaway keyring, so no one's real keyring is read or written.
type secretService struct {
	bus, keyring *exec.Cmd
	address      string
}

func startSecretService(dir string) (*secretService, error) {
	for _, tool := range []string{"dbus-daemon", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed", tool)
		}
	}
	socket := filepath.Join(dir, "bus")
	s := &secretService{address: "unix:path=" + socket}
	s.bus = exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--address="+s.address)
	if err := s.bus.Start(); err != nil {
		return nil, fmt.Errorf("starting dbus-daemon: %w", err)
	}
	if !waitUntil(func() bool { _, err := os.Stat(socket); return err == nil }) {
		s.stop()
		return nil, fmt.Errorf("dbus-daemon did not listen on %s", socket)
	}
	home := filepath.Join(dir, "keyring-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		s.stop()
		return nil, err
	}
	s.keyring = exec.Command("gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")
	s.keyring.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+home, "XDG_RUNTIME_DIR="+home,
		"DBUS_SESSION_BUS_ADDRESS="+s.address)
	s.keyring.Stdin = strings.NewReader("klrbac-bench")
	if err := s.keyring.Start(); err != nil {
		s.stop()
		return nil, fmt.Errorf("starting gnome-keyring-daemon: %w", err)
	}
	owned := waitUntil(func() bool {
		conn, err := dbus.Connect(s.address)
		if err != nil {
			return false
		}
		defer conn.Close()
		var ok bool
		return conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.freedesktop.secrets").Store(&ok) == nil && ok
	})
	if !owned {
		s.stop()
		return nil, fmt.Errorf("gnome-keyring-daemon did not take org.freedesktop.secrets")
	}
	return s, nil
}

func (s *secretService) stop() {
	for _, c := range []*exec.Cmd{s.keyring, s.bus} {
		if c != nil && c.Process != nil {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}
}

func waitUntil(ok func() bool) bool {
	for range 200 {
		if ok() {
			return true
		}
		time.Sleep(25 * time.Millisecond)
	}
	return false
}

func randomKey() string {
	b := make([]byte, 17)
	_, _ = rand.Read(b)
	return "pk_" + hex.EncodeToString(b)
}

// checkSources runs keys list once and checks every role's key comes from where it should, so the
// benchmark cannot time a run that failed or found nothing.
func checkSources(klrbac string, env []string, want string) error {
	cmd := exec.Command(klrbac, "keys", "list", "-o", "json")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("keys list: %w", err)
	}
	var keys []struct{ Role, Source string }
	if err := json.Unmarshal(out, &keys); err != nil {
		return err
	}
	for _, k := range keys {
		if k.Source != want {
			return fmt.Errorf("keys list: role %s's key comes from %q, want %q", k.Role, k.Source, want)
		}
	}
	if len(keys) != len(defaultRoles) {
		return fmt.Errorf("keys list: %d roles, want %d", len(keys), len(defaultRoles))
	}
	return nil
}

func runKeysList(env *benchEnv) error {
	base := []string{"HOME=" + env.dir, "XDG_CONFIG_HOME=" + filepath.Join(env.dir, "config"),
		"KLRBAC_KEYRING_TIMEOUT=10s"}
	for _, r := range defaultRoles {
		base = append(base, "KLAVIYO_KEY_"+strings.ToUpper(r)+"=")
	}
	envOnly := append(append([]string{}, base...), "KLRBAC_KEYRING=off")
	for _, r := range defaultRoles {
		envOnly = append(envOnly, "KLAVIYO_KEY_"+strings.ToUpper(r)+"="+randomKey())
	}
	if err := checkSources(env.klrbac, envOnly, "env"); err != nil {
		return err
	}
	progs := []program{{"KLRBAC_KEYRING=off, env keys", []string{env.klrbac, "keys", "list"}, envOnly}}

	ss, err := startSecretService(env.dir)
	if err != nil {
		fmt.Printf("   no Secret Service reachable (%v): reporting the env-only figure\n", err)
	} else {
		defer ss.stop()
		inKeyring := append(append([]string{}, base...), "KLRBAC_KEYRING=", "DBUS_SESSION_BUS_ADDRESS="+ss.address)
		for _, r := range defaultRoles {
			cmd := exec.Command(env.klrbac, "keys", "set", r)
			cmd.Env = append(os.Environ(), inKeyring...)
			cmd.Stdin = strings.NewReader(randomKey())
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("keys set %s: %v\n%s", r, err, out)
			}
		}
		if err := checkSources(env.klrbac, inKeyring, "keyring"); err != nil {
			return err
		}
		progs = append(progs, program{"Secret Service (gnome-keyring)", []string{env.klrbac, "keys", "list"}, inKeyring})
	}

	res, err := alternate(env, 20, progs)
	if err != nil {
		return err
	}
	for _, p := range progs {
		fmt.Printf("   %-32s median %6.3f ms/run  p90 %6.3f ms/run\n", p.label, median(res[p.label]), percentile(res[p.label], 0.9))
	}
	if len(progs) == 2 {
		ratio := median(res[progs[1].label]) / median(res[progs[0].label])
		fmt.Printf("   keyring / env-only: %.2fx (the cost of 5 concurrent Secret Service look-ups; no target is set)\n", ratio)
	}
	return nil
}
