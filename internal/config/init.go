package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
)

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
