package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
)

// ActionInit is the audit action of writing the default policy to a config file.
const ActionInit = "config.init"

// InitPath is where `klrbac config init` writes when given no FILE: the file --config or
// KLRBAC_CONFIG names, else DefaultPath.
func InitPath(opts Options) (string, error) {
	if paths, explicit := Candidates(opts); explicit {
		return paths[0], nil
	}
	return DefaultPath()
}

// InitAudited is Init recorded in the audit trail first: when the record cannot be kept, nothing is
// written. A refusal is decided before the record, so the trail never holds an init that did not
// happen, and trail is opened only once it is needed.
func InitAudited(ctx context.Context, trail func() *audit.Trail, path string, force bool) error {
	if err := CheckInit(path, force); err != nil {
		return err
	}
	resource := path
	if abs, err := filepath.Abs(path); err == nil {
		resource = abs
	}
	reason := "writing the default policy"
	if force {
		reason += ", replacing any existing file"
	}
	return trail().Audited(ctx, audit.Entry{Action: ActionInit, Resource: resource, Reason: reason}, func() error {
		return Init(path, force)
	})
}

// Unread says why klrbac, searching as opts say, would not read the config file at path: a note for
// whoever just wrote it, since a file the search does not reach first is easy to edit in vain; ""
// when klrbac reads it.
func Unread(opts Options, path string) string {
	candidates, _ := Candidates(opts)
	if !slices.ContainsFunc(candidates, func(c string) bool { return samePath(c, path) }) {
		return fmt.Sprintf("klrbac reads it only when named: --config %s or KLRBAC_CONFIG=%s", path, path)
	}
	if found, err := Find(opts); err == nil && !samePath(found, path) {
		return found + " comes first in the search here, so klrbac reads that file, not this one (klrbac config path shows which)"
	}
	return ""
}

// samePath reports whether two paths name the same file.
func samePath(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// CheckInit reports, before anything is recorded or written, whether Init would refuse: path is a
// directory, or an existing file without force.
func CheckInit(path string, force bool) error {
	if st, err := os.Stat(path); err == nil {
		if st.IsDir() {
			return fault.Configf("%s is a directory", path).Hint("name a file, e.g. " + filepath.Join(path, "klrbac.yaml"))
		}
		if !force {
			return fault.Usagef("refusing to overwrite %s", path).Hint("pass --force to replace it, or name another file with --config")
		}
	}
	return nil
}

// Init writes the default policy, with its comments, to path (mode 0600, directory 0700). It refuses
// to replace an existing file unless force is set, and never leaves a half-written file behind: the
// content goes to a temporary file in the same directory first.
func Init(path string, force bool) error {
	if err := CheckInit(path, force); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fault.Unavailablef("cannot create %s: %w", dir, errors.Unwrap(err))
	}
	tmp, err := os.CreateTemp(dir, ".klrbac-config-*")
	if err != nil {
		return fault.Unavailablef("cannot write in %s: %w", dir, errors.Unwrap(err))
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fault.Unavailablef("cannot write %s: %w", path, err)
	}
	if _, err := tmp.Write(policy.DefaultYAML); err != nil {
		tmp.Close()
		return fault.Unavailablef("cannot write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fault.Unavailablef("cannot write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fault.Unavailablef("cannot write %s: %w", path, err)
	}
	if force {
		err = os.Rename(tmp.Name(), path)
	} else {
		// A hard link fails if the name appeared meanwhile: no race can clobber a file.
		err = os.Link(tmp.Name(), path)
	}
	if errors.Is(err, fs.ErrExist) {
		return fault.Usagef("refusing to overwrite %s", path).Hint("pass --force to replace it")
	}
	if err != nil {
		return fault.Unavailablef("cannot write %s: %w", path, err)
	}
	return nil
}
