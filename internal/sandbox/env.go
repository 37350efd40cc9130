package sandbox

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
)

// EnvVar is one shell export of the environment that points klrbac at a sandbox.
type EnvVar struct{ Name, Value string }

// Env is the environment that points klrbac at a sandbox: its URLs, the key of each role (matched
// by key name, in the role's key_env variable, first account first), the first OAuth client, and
// the sandbox's pid when it runs as its own process (pid 0: not).
func Env(url string, fx *Fixture, pol *policy.Policy, pid int) []EnvVar {
	env := []EnvVar{{"KLRBAC_API_URL", url}, {"KLRBAC_AUTH_URL", url}}
	seen := map[string]bool{}
	for _, a := range fx.Accounts {
		for _, k := range a.Keys {
			r, ok := pol.Role(k.Name)
			if !ok || seen[r.EnvVar()] {
				continue
			}
			seen[r.EnvVar()] = true
			env = append(env, EnvVar{r.EnvVar(), k.Secret})
		}
	}
	for _, a := range fx.Accounts {
		if len(a.OAuthClients) > 0 {
			c := a.OAuthClients[0]
			env = append(env, EnvVar{"KLAVIYO_OAUTH_CLIENT_ID", c.ClientID}, EnvVar{"KLAVIYO_OAUTH_CLIENT_SECRET", c.ClientSecret})
			break
		}
	}
	if pid > 0 {
		env = append(env, EnvVar{"KLRBAC_SANDBOX_PID", strconv.Itoa(pid)})
	}
	return env
}

// WriteEnv writes env as POSIX shell exports, one a line.
func WriteEnv(w io.Writer, env []EnvVar) error {
	var b strings.Builder
	for _, e := range env {
		b.WriteString("export " + e.Name + "=" + shellQuote(e.Value) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeEnvFile creates path holding the exports and returns what it wrote. The file appears whole,
// so a script polling for it never reads half of it: its appearance is the signal that the sandbox
// is ready. It is written under a temporary name beside path and linked into place, and a link
// never replaces a file: whatever path already holds (a file of the user's, or another sandbox's
// exports) is left alone, even if it appears while this one is being written.
func writeEnvFile(path string, env []EnvVar) ([]byte, error) {
	var b bytes.Buffer
	if err := WriteEnv(&b, env); err != nil {
		return nil, err
	}
	refuse := func() error {
		return fault.Usagef("refusing to overwrite %s", path).
			Hint("--env-file creates a new file and removes it when the sandbox stops; remove " + path + " or name another file")
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, refuse()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, fault.Usagef("cannot write --env-file: %v", err).Hint("name a file in a directory you can write to")
	}
	defer os.Remove(tmp.Name()) // the link keeps the file; the temporary name goes
	// CreateTemp makes the file 0600: it holds keys.
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return nil, fault.Unavailablef("cannot write --env-file: %v", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fault.Unavailablef("cannot write --env-file: %v", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, refuse()
		}
		var le *os.LinkError
		if errors.As(err, &le) {
			err = le.Err
		}
		return nil, fault.Usagef("cannot write --env-file %s: %v", path, err).Hint("name a file in a directory you can write to, on a file system with hard links")
	}
	return b.Bytes(), nil
}

// removeEnvFile removes the env file when the sandbox stops, but only while it still holds what the
// sandbox wrote: a file someone has written over since is theirs.
func removeEnvFile(path string, written []byte) {
	if got, err := os.ReadFile(path); err == nil && bytes.Equal(got, written) {
		_ = os.Remove(path)
	}
}

// shellQuote quotes a value for POSIX shells.
func shellQuote(s string) string {
	safe := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./:@%+=,", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
