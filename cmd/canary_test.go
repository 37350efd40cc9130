package cmd

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/klrbac/klrbac/internal/ui"
)

// canaries are every credential the command-line tests use, and so every string that must never
// appear in klrbac's output. Scripts never spell one out: they read $SECRETS/<name> (the value and a
// newline, for stdin) or $SECRET_<NAME> (for variables), and the harness makes them from this list.
var canaries = sync.OnceValue(func() map[string]string {
	hexOf := func(name string, n int) string {
		sum := sha256.Sum256([]byte("klrbac canary " + name))
		return hex.EncodeToString(sum[:])[:n]
	}
	c := map[string]string{
		// Well-formed keys, one per default role, and spares.
		"admin": "pk_" + hexOf("admin", 34), "marketer": "pk_" + hexOf("marketer", 34),
		"developer": "pk_" + hexOf("developer", 34), "viewer": "pk_" + hexOf("viewer", 34),
		"service": "pk_" + hexOf("service", 34), "marketer2": "pk_" + hexOf("marketer2", 34),
		// A key carrying an account id.
		"account": "pk_Cnry01_" + hexOf("account", 34),
		// A well-formed key Klaviyo (the fake one) refuses.
		"revoked": "pk_" + hexOf("revoked", 34),
		// Wrong inputs: klrbac must refuse them without repeating them.
		"public":     "Cnry7Q",
		"oauthtoken": "cnry." + hexOf("oauthtoken", 40) + ".tok",
		"malformed":  "pk_" + hexOf("malformed", 20),
		"uppercase":  "pk_" + strings.ToUpper(hexOf("uppercase", 34)),
		// OAuth client secrets.
		"client": "cnry-client-" + hexOf("client", 32), "client2": "cnry-client-" + hexOf("client2", 32),
		// A private key as it arrives mangled: glued to the words around it, percent-encoded, upper
		// case, with a hyphen or a space after pk.
		"glued":    "x" + "pk_" + hexOf("glued", 34) + "y",
		"pctkey":   "pk%5F" + hexOf("pctkey", 34),
		"upperkey": "PK_" + strings.ToUpper(hexOf("upperkey", 34)),
		"dashkey":  "pk-" + hexOf("dashkey", 34),
		"spacekey": "pk_ " + hexOf("spacekey", 34),
		// An OAuth access token as the sandbox issues them (48 hex digits), and one as a JWT.
		"token": hexOf("token", 48),
		"jwt":   "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjbnJ5In0." + hexOf("jwt", 40),
	}
	return c
})

// canaryTerm is one string the scan looks for.
type canaryTerm struct {
	name  string
	value []byte
	// allowedIn names the one capture file that may hold it by design: `klrbac oauth token`'s
	// stdout, for the access tokens the sandbox issues.
	allowedIn string
}

// tokenCapture is where the scripts' klrbac copies the stdout of `oauth token`, the one command
// that prints a secret by design; everything else it prints goes to .capture/stdout.
const tokenCapture = "stdout.oauth-token"

// sandboxCapture is where the scripts' klrbac copies the stdout of `klrbac sandbox`, which prints
// its own fixture's credentials on purpose (--print-env, --show-keys): they are the sandbox's to
// hand out, and may appear there and nowhere else.
const sandboxCapture = "stdout.sandbox"

// termsOf is what the scan looks for of one secret: the value whole, and for long ones the 16
// characters after any pk prefix (pk_, or the mangled forms pk%5F, pk-, PK_, "pk_ ", glued to a
// letter), which catch a value cut short or stripped of its prefix. The last four characters are
// left out on purpose: masks show them.
func termsOf(name, v, allowedIn string) []canaryTerm {
	terms := []canaryTerm{{name, []byte(v), allowedIn}}
	body := v
	for _, prefix := range []string{"xpk_", "pk_ ", "pk_", "pk%5F", "pk-", "PK_"} {
		if b, ok := strings.CutPrefix(v, prefix); ok {
			body = b
			break
		}
	}
	// A cut of a made-up key such as pk_000...0003 is only zeros, which hashes are full of.
	if len(body) >= 24 && strings.Trim(body[:16], body[:1]) != "" {
		terms = append(terms, canaryTerm{name + " (cut)", []byte(body[:16]), allowedIn})
	}
	return terms
}

// canaryTerms are the strings the scan looks for in every script.
func canaryTerms() []canaryTerm {
	var terms []canaryTerm
	for name, v := range canaries() {
		terms = append(terms, termsOf(name, v, "")...)
	}
	return terms
}

// issuedSecrets are the OAuth secrets the script's sandboxes handed out or received (codes,
// tokens, verifiers): klrbac must not show them any more than the canaries.
type issuedSecrets struct {
	mu    sync.Mutex
	terms []canaryTerm
	count map[string]int
	// inputs are files the script gave klrbac (sandbox fixtures), which hold secrets by nature.
	inputs []string
}

// input marks a file as the script's input, not klrbac's output, for the scan.
func (s *issuedSecrets) input(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inputs = append(s.inputs, path)
}

// issuedKey finds a script's issuedSecrets among its testscript values.
type issuedKey struct{}

func (s *issuedSecrets) add(kind, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count == nil {
		s.count = map[string]int{}
	}
	s.count[kind]++
	allowed := ""
	switch kind {
	case "access_token":
		allowed = tokenCapture
	case "fixture key", "fixture client secret":
		allowed = sandboxCapture
	}
	s.terms = append(s.terms, termsOf(fmt.Sprintf("sandbox %s #%d", kind, s.count[kind]), value, allowed)...)
}

func (s *issuedSecrets) all() []canaryTerm {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.terms)
}

func canaryValue(ts *testscript.TestScript, name string) string {
	v, ok := canaries()[name]
	if !ok {
		ts.Fatalf("no canary named %q", name)
	}
	return v
}

// setupCanaries gives a script its credentials, its fake keyring and its capture directory, and
// scans what the script leaves when it ends.
func setupCanaries(env *testscript.Env) error {
	secretsDir := filepath.Join(env.WorkDir, ".secrets")
	captureDir := filepath.Join(env.WorkDir, ".capture")
	keyringFile := filepath.Join(env.WorkDir, ".keyring.json")
	for _, d := range []string{secretsDir, captureDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	for name, v := range canaries() {
		if err := os.WriteFile(filepath.Join(secretsDir, name), []byte(v+"\n"), 0o600); err != nil {
			return err
		}
		env.Setenv("SECRET_"+strings.ToUpper(name), v)
	}
	for name, v := range canaries() {
		// Expected masks and fingerprints, computed here rather than by the code under test.
		sum := sha256.Sum256([]byte(v))
		upper := strings.ToUpper(name)
		env.Setenv("FP_"+upper, hex.EncodeToString(sum[:])[:8])
		mask := "****"
		if len(strings.TrimPrefix(v, "pk_")) >= 16 {
			mask += v[len(v)-4:]
		}
		if strings.HasPrefix(v, "pk_") {
			mask = "pk_" + mask
		}
		env.Setenv("MASK_"+upper, mask)
		env.Setenv("MASKRE_"+upper, strings.ReplaceAll(mask, "*", `\*`))
	}
	env.Setenv("SECRETS", secretsDir)
	env.Setenv(testKeyringEnv, keyringFile)
	env.Setenv(testCaptureEnv, captureDir)

	// Files present now came from the script's archive: only what changes afterwards is output.
	before, err := hashTree(env.WorkDir)
	if err != nil {
		return err
	}
	issued := &issuedSecrets{}
	env.Values[issuedKey{}] = issued
	t := env.T()
	env.Defer(func() {
		terms := append(canaryTerms(), issued.all()...)
		issued.mu.Lock()
		skip := append([]string{secretsDir, keyringFile}, issued.inputs...)
		issued.mu.Unlock()
		for _, leak := range scanForCanaries(env.WorkDir, before, skip, terms) {
			fail(t, "canary scan: "+leak)
		}
	})
	return nil
}

// fail marks the script failed without stopping the deferred work of the harness.
func fail(t testscript.T, msg string) {
	if e, ok := t.(interface{ Errorf(string, ...any) }); ok {
		e.Errorf("%s", msg)
		return
	}
	t.Fatal(msg)
}

func hashTree(root string) (map[string][32]byte, error) {
	sums := map[string][32]byte{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sums[path] = sha256.Sum256(b)
		return nil
	})
	return sums, err
}

// scanForCanaries looks for every canary in the files under root that were written or changed since
// before was taken, except those in skip (the credentials handed to the script and the fake
// keyring, which hold them by design). It returns one line per leak, naming the canary and the file
// but never the value.
func scanForCanaries(root string, before map[string][32]byte, skip []string, terms []canaryTerm) []string {
	var leaks []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for _, s := range skip {
			if path == s || strings.HasPrefix(path, s+string(filepath.Separator)) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if sum, ok := before[path]; ok && sum == sha256.Sum256(b) {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		for _, term := range terms {
			if term.allowedIn != "" && rel == filepath.Join(".capture", term.allowedIn) {
				continue
			}
			// The env files `klrbac sandbox --env-file` writes (named *.env in the scripts) hand
			// out the sandbox's own credentials, as its stdout does.
			if term.allowedIn == sandboxCapture && strings.HasSuffix(rel, ".env") {
				continue
			}
			if bytes.Contains(b, term.value) {
				leaks = append(leaks, fmt.Sprintf("secret %q appears in $WORK/%s", term.name, filepath.ToSlash(rel)))
			}
		}
		return nil
	})
	if err != nil {
		leaks = append(leaks, "cannot scan the work directory: "+err.Error())
	}
	sort.Strings(leaks)
	return leaks
}

// runLeak is a program that leaks on purpose: `leak stdout NAME`, `leak stderr NAME` or
// `leak file PATH NAME` writes canary NAME there.
func runLeak(streams *ui.IO) int {
	args := os.Args[1:]
	switch {
	case len(args) == 2 && args[0] == "stdout":
		fmt.Fprintln(streams.Out, "key:", canaries()[args[1]])
	case len(args) == 2 && args[0] == "stderr":
		fmt.Fprintln(streams.Err, "debug: using", strings.TrimPrefix(canaries()[args[1]], "pk_")[:20])
	case len(args) == 3 && args[0] == "file":
		if err := os.WriteFile(args[1], []byte("token="+canaries()[args[2]]+"\n"), 0o600); err != nil {
			fmt.Fprintln(streams.Err, err)
			return 1
		}
	default:
		fmt.Fprintln(streams.Err, "usage: leak stdout|stderr NAME | leak file PATH NAME")
		return 2
	}
	return 0
}

// recordingT runs testscript scripts and records their failures instead of failing the test, so a
// test can check that a script fails, and why.
type recordingT struct {
	mu       sync.Mutex
	failures map[string][]string
	name     string
	root     *recordingT
}

func (r *recordingT) record(msg string) {
	r.root.mu.Lock()
	defer r.root.mu.Unlock()
	r.root.failures[r.name] = append(r.root.failures[r.name], msg)
}
func (r *recordingT) Skip(args ...any)               { r.record("skipped: " + fmt.Sprint(args...)) }
func (r *recordingT) Fatal(args ...any)              { r.record(fmt.Sprint(args...)); r.FailNow() }
func (r *recordingT) Errorf(format string, a ...any) { r.record(fmt.Sprintf(format, a...)) }
func (r *recordingT) Parallel()                      {}
func (r *recordingT) Log(args ...any)                {}
func (r *recordingT) FailNow()                       { r.record("FailNow"); runtime.Goexit() }
func (r *recordingT) Verbose() bool                  { return false }
func (r *recordingT) Run(name string, f func(testscript.T)) {
	sub := &recordingT{name: name, root: r.root}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(sub)
	}()
	<-done
}

// TestCanaryScanCatchesLeaks proves the scan that guards every script can fail: the scripts in
// testdata/canary leak a canary through stdout, stderr or a file, and each must be reported.
func TestCanaryScanCatchesLeaks(t *testing.T) {
	rt := &recordingT{failures: map[string][]string{}}
	rt.root = rt
	p := scriptParams(t, filepath.Join("testdata", "canary"))
	testscript.RunT(rt, p)
	t.Logf("recorded failures: %q", rt.failures)
	want := map[string]string{
		"leak-stdout": `canary scan: secret "marketer" appears in $WORK/.capture/stdout`,
		"leak-stderr": `canary scan: secret "viewer (cut)" appears in $WORK/.capture/stderr`,
		"leak-file":   `canary scan: secret "client" appears in $WORK/home/.local/state/klrbac/debug.log`,
		"clean":       "",
	}
	for script, msg := range want {
		got := rt.failures[script]
		if msg == "" {
			if len(got) != 0 {
				t.Errorf("%s: a clean script failed: %q", script, got)
			}
			continue
		}
		found := false
		for _, g := range got {
			found = found || g == msg
			for _, v := range canaries() {
				if strings.Contains(g, v) {
					t.Errorf("%s: the report repeats the secret: %s", script, g)
				}
			}
		}
		if !found {
			t.Errorf("%s: failures %q, want %q", script, got, msg)
		}
	}
}

// cmdSecretFile writes a file of answers for a terminal session into the script's credentials
// directory, where the canary scan does not look: each argument is a line, @NAME standing for
// canary NAME.
//
//	secretfile replace y @marketer2    # then: ttyin -stdin $SECRETS/replace
func cmdSecretFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || strings.ContainsAny(args[0], `/\`) {
		ts.Fatalf("usage: secretfile NAME LINE...")
	}
	var b strings.Builder
	for _, a := range args[1:] {
		if name, ok := strings.CutPrefix(a, "@"); ok {
			a = canaryValue(ts, name)
		}
		b.WriteString(a + "\n")
	}
	ts.Check(os.WriteFile(filepath.Join(ts.Getenv("SECRETS"), args[0]), []byte(b.String()), 0o600))
}
