package validate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
)

// CalibrationState is what is known of the order in which Klaviyo checks a write.
type CalibrationState string

const (
	// Uncalibrated: not established; write results rest on Django REST Framework's order
	// (authenticate, check scopes, then validate the body), which Klaviyo's error codes suggest.
	Uncalibrated CalibrationState = "uncalibrated"
	// Confirmed: a full-access key's write probes were answered 400 or 404 and a read-only key's
	// 403, so Klaviyo checks scopes before it validates a body.
	Confirmed CalibrationState = "confirmed"
	// Refuted: a key holding no write scope had its write probes answered 400 or 404 too, so those
	// answers do not prove a scope.
	Refuted CalibrationState = "refuted"
)

// Calibration is what Calibrate established for one API URL and revision. It is stored in a file
// (see SaveCalibration), which holds no secret: only the fingerprints of the keys used.
type Calibration struct {
	APIURL   string           `json:"api_url"`
	Revision string           `json:"revision"`
	State    CalibrationState `json:"state"`
	// ScopesBeforeBody is State == Confirmed, spelt out for readers of the file.
	ScopesBeforeBody bool      `json:"scopes_before_body"`
	CalibratedAt     time.Time `json:"calibrated_at"`
	// FullAccessKey and ReadOnlyKey are the fingerprints of the keys calibrated with.
	FullAccessKey string `json:"full_access_key"`
	ReadOnlyKey   string `json:"read_only_key"`
	// WriteProbes is how many write probes each key was sent.
	WriteProbes int `json:"write_probes"`
}

// View is the calibration as reports show it.
func (c Calibration) View() CalibrationView {
	v := CalibrationView{State: c.State}
	if v.State == "" {
		v.State = Uncalibrated
	}
	if !c.CalibratedAt.IsZero() {
		v.CalibratedAt = c.CalibratedAt.UTC().Format(time.RFC3339)
	}
	return v
}

// CalibrationFile is the file's content: one calibration per API URL and revision.
type CalibrationFile struct {
	Version      int           `json:"version"`
	Calibrations []Calibration `json:"calibrations"`
}

const calibrationVersion = 1

// calibrationURL is the form of an API URL calibrations are keyed by and messages name it:
// klaviyo.NormalizeBaseURL's, without surrounding space too. The space matters: the config lets
// "https://a.klaviyo.com/ " through, which the client sends to as given, and calibrations have always
// been keyed by "https://a.klaviyo.com" for it; dropping the TrimSpace would orphan them.
func calibrationURL(u string) string { return klaviyo.NormalizeBaseURL(strings.TrimSpace(u)) }

// ParseCalibrationFile reads a calibration file. It accepts only what SaveCalibration writes: the
// file decides whether write results are trusted, so anything unexpected is an error.
func ParseCalibrationFile(data []byte) (CalibrationFile, error) {
	var f CalibrationFile
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return CalibrationFile{}, fmt.Errorf("not a calibration file: %w", err)
	}
	if dec.More() {
		return CalibrationFile{}, errors.New("not a calibration file: data after the document")
	}
	if f.Version != calibrationVersion {
		return CalibrationFile{}, fmt.Errorf("calibration file version %d, want %d", f.Version, calibrationVersion)
	}
	for i, c := range f.Calibrations {
		switch {
		case c.APIURL == "" || c.Revision == "":
			return CalibrationFile{}, fmt.Errorf("calibration %d names no api_url or revision", i+1)
		case c.State != Confirmed && c.State != Refuted:
			return CalibrationFile{}, fmt.Errorf("calibration %d: state %q is neither confirmed nor refuted", i+1, c.State)
		case c.ScopesBeforeBody != (c.State == Confirmed):
			return CalibrationFile{}, fmt.Errorf("calibration %d: scopes_before_body contradicts state %s", i+1, c.State)
		}
	}
	return f, nil
}

// LoadCalibration returns the calibration stored in path for apiURL and revision: Uncalibrated when
// the file or the entry does not exist. A file that cannot be read or parsed is an error, and the
// caller should carry on uncalibrated (the safe side: write results are then marked inferred).
func LoadCalibration(path, apiURL, revision string) (Calibration, error) {
	none := Calibration{APIURL: calibrationURL(apiURL), Revision: revision, State: Uncalibrated}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return none, nil
	}
	if err != nil {
		return none, fmt.Errorf("cannot read calibration file %s: %w", path, err)
	}
	f, err := ParseCalibrationFile(data)
	if err != nil {
		return none, fmt.Errorf("calibration file %s: %w", path, err)
	}
	for _, c := range f.Calibrations {
		if c.APIURL == none.APIURL && c.Revision == revision {
			return c, nil
		}
	}
	return none, nil
}

// SaveCalibration stores c in path, replacing the entry for the same API URL and revision and
// keeping the others. The file is written whole to a temporary file and renamed, mode 0600 in a
// 0700 directory: it holds no secret, but it decides how results are read. An existing file that
// cannot be parsed is replaced; replaced reports it.
func SaveCalibration(path string, c Calibration) (replaced bool, err error) {
	c.APIURL = calibrationURL(c.APIURL)
	f := CalibrationFile{Version: calibrationVersion}
	if data, err := os.ReadFile(path); err == nil {
		if old, perr := ParseCalibrationFile(data); perr == nil {
			f = old
		} else {
			replaced = true
		}
	}
	kept := f.Calibrations[:0]
	for _, o := range f.Calibrations {
		if o.APIURL != c.APIURL || o.Revision != c.Revision {
			kept = append(kept, o)
		}
	}
	f.Calibrations = append(kept, c)
	sort.Slice(f.Calibrations, func(i, j int) bool {
		a, b := f.Calibrations[i], f.Calibrations[j]
		if a.APIURL != b.APIURL {
			return a.APIURL < b.APIURL
		}
		return a.Revision < b.Revision
	})
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return replaced, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return replaced, fault.Unavailablef("cannot store the calibration: %v", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".calibration-*.json")
	if err != nil {
		return replaced, fault.Unavailablef("cannot store the calibration: %v", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return replaced, fault.Unavailablef("cannot store the calibration: %v", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return replaced, fault.Unavailablef("cannot store the calibration: %v", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return replaced, fault.Unavailablef("cannot store the calibration: %v", err)
	}
	if err := tmp.Close(); err != nil {
		return replaced, fault.Unavailablef("cannot store the calibration: %v", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return replaced, fault.Unavailablef("cannot store the calibration: %v", err)
	}
	return replaced, nil
}

// CalibrationKey is one of the two keys Calibrate uses.
type CalibrationKey struct {
	// Name says where it came from, for messages: "role admin".
	Name    string
	Key     klaviyo.Credential
	Account string
}

// CalibrationAnswer is what the two keys' probes of one write scope got.
type CalibrationAnswer struct {
	Scope    string `json:"scope"`
	Request  string `json:"request"`
	Full     string `json:"full_access"`
	ReadOnly string `json:"read_only"`
}

// CalibrationResult is a calibration and the evidence for it.
type CalibrationResult struct {
	Calibration
	Answers []CalibrationAnswer `json:"answers"`
}

// klaviyoUnreachable says what to do when Klaviyo's API gives no answer at all.
const klaviyoUnreachable = "check the network connection and the API URL (klaviyo.api_url, KLRBAC_API_URL)"

// Calibrate sends every write probe with a known full-access key and a known read-only key, and
// reads the order of Klaviyo's checks from the answers:
//   - full-access key: every write probe must be answered 400 or 404 (the scope passed, the body or
//     id failed); a 403 means the key is not full access, which settles nothing;
//   - read-only key: every write probe answered 403 permission_denied confirms that scopes are
//     checked first; every one answered 400 or 404 refutes it (or the key is not read-only);
//     a mixture means the key holds some write scopes, which settles nothing.
//
// An inconclusive calibration is an error (exit 3) and nothing is to be stored; a refuted one is a
// result. The guard, when set, stops everything at the first write that succeeds.
func Calibrate(ctx context.Context, full, readOnly CalibrationKey, opts Options, now func() time.Time) (CalibrationResult, error) {
	if err := checkProbes(); err != nil {
		return CalibrationResult{}, err
	}
	ctx, cancel := opts.Guard.context(ctx)
	defer cancel()
	// The roomiest tier's write first: it goes alone.
	first := pick(Probeable(), true)
	writes := []ProbeRequest{}
	if r, ok := RequestFor(first); ok {
		writes = append(writes, r)
	}
	for _, s := range Probeable() {
		if r, _ := RequestFor(s); r.Write() && s != first {
			writes = append(writes, r)
		}
	}
	fullAns := make([]error, len(writes))
	roAns := make([]error, len(writes))
	send := func(k CalibrationKey, r ProbeRequest) error {
		resp, err := opts.Client.Do(ctx, klaviyo.Request{Method: r.Method, Path: r.Path, Query: cloneQuery(r.Query),
			Body: r.Body, Credential: k.Key, Account: k.Account})
		// The same evidence rules as a validation: an answer that is not Klaviyo's, or that is
		// about the revision, ends the calibration.
		if _, _, stop := interpret(r, resp, err, Uncalibrated, opts.APIURL, opts.Revision); stop != nil {
			cancel()
			return stop
		}
		return err
	}
	// One write alone first, as in Probe: an API that accepts writes built to fail gets only one,
	// and one that does not answer at all is not sent the rest.
	fullAns[0] = send(full, writes[0])
	tripped := opts.Guard != nil && opts.Guard.Tripped()
	if ke := (*klaviyo.Error)(nil); !tripped && errors.As(fullAns[0], &ke) && ke.Class == klaviyo.Transport && ctx.Err() == nil {
		return CalibrationResult{}, fault.Unavailablef("calibration inconclusive: %s; nothing else was sent", unanswered(opts.APIURL, writes[0], ke)).
			Hint(klaviyoUnreachable, "nothing was stored")
	}
	if !tripped {
		var wg sync.WaitGroup
		for i, r := range writes {
			if i > 0 {
				wg.Go(func() { fullAns[i] = send(full, r) })
			}
			wg.Go(func() { roAns[i] = send(readOnly, r) })
		}
		wg.Wait()
	}
	if opts.Guard != nil && opts.Guard.Tripped() {
		return CalibrationResult{}, opts.Guard.Err()
	}
	for _, ans := range append(slices.Clone(fullAns), roAns...) {
		var nk *NotKlaviyoError
		var re *RevisionError
		if errors.As(ans, &nk) || errors.As(ans, &re) {
			return CalibrationResult{}, stopFault(ans)
		}
	}
	if err := ctx.Err(); err != nil {
		return CalibrationResult{}, err
	}

	res := CalibrationResult{Calibration: Calibration{APIURL: calibrationURL(opts.APIURL), Revision: opts.Revision,
		CalibratedAt: now().UTC().Truncate(time.Second), FullAccessKey: full.Key.Fingerprint(),
		ReadOnlyKey: readOnly.Key.Fingerprint(), WriteProbes: len(writes)}}
	var problems []string
	var fullRefused []string
	fullOther, roOther := map[string][]string{}, map[string][]string{}
	fullRejected, roRejected := "", ""
	refused, passed := 0, 0
	for i, r := range writes {
		fa, ra := outcome(r, fullAns[i]), outcome(r, roAns[i])
		res.Answers = append(res.Answers, CalibrationAnswer{Scope: r.Scope, Request: r.String(), Full: fa.text, ReadOnly: ra.text})
		switch {
		case fa.rejected:
			fullRejected = fa.text
		case fa.class == klaviyo.PermissionDenied:
			fullRefused = append(fullRefused, r.Scope)
		case !fa.passed:
			fullOther[fa.text] = append(fullOther[fa.text], r.Scope)
		}
		switch {
		case ra.rejected:
			roRejected = ra.text
		case ra.class == klaviyo.PermissionDenied:
			refused++
		case ra.passed:
			passed++
		default:
			roOther[ra.text] = append(roOther[ra.text], r.Scope)
		}
	}
	if fullRejected != "" {
		problems = append(problems, fmt.Sprintf("Klaviyo rejected the full-access key (%s, %s): %s", full.Name, full.Key.Mask(), fullRejected))
	}
	if roRejected != "" {
		problems = append(problems, fmt.Sprintf("Klaviyo rejected the read-only key (%s, %s): %s", readOnly.Name, readOnly.Key.Mask(), roRejected))
	}
	sort.Strings(fullRefused)
	if len(fullRefused) > 0 {
		problems = append(problems, fmt.Sprintf("the full-access key (%s) was refused %s: it is not a full-access key", full.Name, few(fullRefused)))
	}
	for _, o := range []struct {
		which  string
		byText map[string][]string
	}{{"full-access", fullOther}, {"read-only", roOther}} {
		texts := make([]string, 0, len(o.byText))
		for t := range o.byText {
			texts = append(texts, t)
		}
		sort.Strings(texts)
		for _, t := range texts {
			scopes := o.byText[t]
			sort.Strings(scopes)
			problems = append(problems, fmt.Sprintf("with the %s key, %s got %s", o.which, few(scopes), t))
		}
	}
	sort.Slice(res.Answers, func(i, j int) bool { return res.Answers[i].Scope < res.Answers[j].Scope })
	switch {
	case len(problems) > 0:
		return res, fault.Unavailablef("calibration inconclusive: %s", strings.Join(problems, "; ")).
			Hint("calibrate with a key that has full access and a key that has only read scopes, when Klaviyo answers normally; nothing was stored")
	case refused == len(writes):
		res.State, res.ScopesBeforeBody = Confirmed, true
	case passed == len(writes):
		res.State = Refuted
	default:
		return res, fault.Unavailablef("calibration inconclusive: the read-only key (%s) was refused %d write probes and not %d others, so it holds some write scopes", readOnly.Name, refused, passed).
			Hint("calibrate with a key that has only read scopes; nothing was stored")
	}
	return res, nil
}

// few names a few scopes: "a, b, c and 4 more".
func few(scopes []string) string {
	const shown = 3
	if len(scopes) > shown+1 {
		return strings.Join(scopes[:shown], ", ") + fmt.Sprintf(" and %d more", len(scopes)-shown)
	}
	return describe(scopes)
}

type probeOutcome struct {
	class    klaviyo.Class
	passed   bool // 2xx, 400 or 404: the scope check passed, if scopes are checked first
	rejected bool
	text     string
}

func outcome(r ProbeRequest, err error) probeOutcome {
	if err == nil {
		return probeOutcome{passed: true, text: "2xx"}
	}
	var ke *klaviyo.Error
	if !errors.As(err, &ke) {
		return probeOutcome{text: "no answer: " + err.Error()}
	}
	o := probeOutcome{class: ke.Class, text: answerText(ke)}
	switch ke.Class {
	case klaviyo.Invalid, klaviyo.NotFound:
		// Only an error about the body or the made-up object is past the scope check.
		var about string
		about, o.passed = passedScopeCheck(r, ke)
		if !o.passed {
			o.text += ": " + about
		}
	case klaviyo.NotAuthenticated, klaviyo.AuthenticationFailed:
		o.rejected = true
	}
	return o
}
