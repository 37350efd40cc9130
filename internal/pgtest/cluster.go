//go:build unix

package pgtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options tune a throwaway cluster.
type Options struct {
	// Durable keeps fsync and synchronous commit on, as a real server runs: benchmarks compare
	// against a file log that syncs every append. Tests leave it off for speed.
	Durable bool
}

// Cluster is a PostgreSQL server started from the installed binaries in a temporary directory.
type Cluster struct {
	// DSN reaches the cluster's superuser over TCP on 127.0.0.1.
	DSN  string
	Port int
	dir  string
	bin  string
	cred *syscall.Credential
	opts Options
	proc *exec.Cmd
	done chan struct{}
}

// Start creates and starts a throwaway cluster on a free port. PostgreSQL refuses to run as root,
// so when run as root the cluster belongs to the `postgres` user the Debian package creates.
func Start(opts Options) (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, done: make(chan struct{})}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, errors.New("running as root, and there is no postgres user to run the server as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	c.dir, err = os.MkdirTemp("", "klrbac-pg-")
	if err != nil {
		return nil, err
	}
	if c.cred != nil {
		if err := os.Chown(c.dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			c.remove()
			return nil, err
		}
	}
	c.opts = opts
	cached, err := c.initData()
	if err != nil {
		c.remove()
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		err := c.serve(0)
		if err == nil {
			return c, nil
		}
		if cached != "" {
			// A template that does not start (damaged, or from a server build that no longer
			// reads it) is dropped, and the cluster made afresh.
			_ = os.RemoveAll(cached)
			_ = os.RemoveAll(c.dataDir())
			if cached, err = "", c.initdb(); err != nil {
				c.remove()
				return nil, err
			}
			continue
		}
		if attempt == 2 {
			c.remove()
			return nil, err
		}
	}
}

// initData fills the cluster's data directory: with a copy of a template from an earlier run when
// there is one (it returns the template's path), else with initdb, whose result it keeps as the
// template for later runs. initdb costs a second and more of CPU, most of it in the bootstrap of the
// catalogs, the same every time; a copy of its result costs a tenth of that. A durable cluster is
// always made by initdb, which syncs its files.
func (c *Cluster) initData() (cached string, err error) {
	tmpl := c.templateDir()
	if tmpl == "" || c.opts.Durable {
		return "", c.initdb()
	}
	if _, err := os.Stat(filepath.Join(tmpl, "PG_VERSION")); err == nil {
		if err := copyTree(tmpl, c.dataDir(), c.cred); err == nil {
			return tmpl, nil
		}
		_ = os.RemoveAll(c.dataDir())
	}
	if err := c.initdb(); err != nil {
		return "", err
	}
	// Kept where later runs find it whole or not at all: copied beside it, then renamed. When
	// another test binary got there first, its template stays.
	if err := os.MkdirAll(filepath.Dir(tmpl), 0o700); err == nil {
		if tmp, err := os.MkdirTemp(filepath.Dir(tmpl), "tmp-"); err == nil {
			if copyTree(c.dataDir(), filepath.Join(tmp, "data"), nil) != nil || os.Rename(filepath.Join(tmp, "data"), tmpl) != nil {
				_ = os.RemoveAll(filepath.Join(tmp, "data"))
			}
			_ = os.Remove(tmp)
		}
	}
	return "", nil
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) initdbArgs() []string {
	args := []string{"-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"}
	if !c.opts.Durable {
		args = append(args, "--no-sync")
	}
	return args
}

func (c *Cluster) initdb() error {
	if out, err := c.run("initdb", append([]string{"-D", c.dataDir()}, c.initdbArgs()...)...); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, lastLines(out))
	}
	return nil
}

// templateDir is where initdb's result for these binaries and options is kept between runs, in the
// user's cache directory, or "" when there is none. Its name changes with anything that changes
// what initdb writes: the binaries (their size and time), the options.
func (c *Cluster) templateDir() string {
	cache, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	h := sha256.New()
	fmt.Fprintln(h, c.bin, c.initdbArgs())
	for _, name := range []string{"initdb", "postgres"} {
		st, err := os.Stat(filepath.Join(c.bin, name))
		if err != nil {
			return ""
		}
		fmt.Fprintln(h, name, st.Size(), st.ModTime().UnixNano())
	}
	return filepath.Join(cache, "klrbac", "pgtest", hex.EncodeToString(h.Sum(nil))[:16])
}

// copyTree copies the directory from to to, which must not exist, with the files' permissions (the
// server refuses a data directory others can read), owned by cred when it is not nil.
func copyTree(from, to string, cred *syscall.Credential) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(dst, info.Mode().Perm()); err != nil {
				return err
			}
		case d.Type().IsRegular():
			if err := copyFile(path, dst, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: not a file or directory", path)
		}
		if cred != nil {
			return os.Lchown(dst, int(cred.Uid), int(cred.Gid))
		}
		return nil
	})
}

func copyFile(from, to string, perm fs.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// serve starts the server on port (0: a free one) and waits until it answers.
func (c *Cluster) serve(port int) error {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	c.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	opts := c.opts
	args := []string{"-D", c.dataDir(), "-p", strconv.Itoa(c.Port), "-k", c.dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=200"}
	if !opts.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	var log bytes.Buffer
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = procAttr(c.cred)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	c.proc, c.done = cmd, exited
	c.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("postgres exited: %s", lastLines(log.Bytes()))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.DSN)
		if err == nil {
			conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		time.Sleep(50 * time.Millisecond)
	}
	c.kill()
	return fmt.Errorf("postgres did not accept connections within 30s: %s", lastLines(log.Bytes()))
}

// Stop shuts the server down at once and removes its files.
func (c *Cluster) Stop() {
	c.kill()
	c.remove()
}

// Restart stops the server at once and starts it again on the same port, as a database restart
// looks to clients: for tests of reconnecting.
func (c *Cluster) Restart() error {
	// A fast shutdown, not an immediate one: without fsync and synchronous commit, a crash would
	// lose committed transactions, which a real restart does not.
	c.signal(syscall.SIGINT)
	return c.serve(c.Port)
}

// kill stops the server with SIGQUIT (immediate shutdown) and waits for it.
func (c *Cluster) kill() { c.signal(syscall.SIGQUIT) }

// signal stops the server with sig and waits for it.
func (c *Cluster) signal(sig syscall.Signal) {
	if c.proc == nil || c.proc.Process == nil {
		return
	}
	_ = c.proc.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.proc.Process.Kill()
		<-c.done
	}
	c.proc = nil
}

func (c *Cluster) remove() {
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
}

func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.SysProcAttr = procAttr(c.cred)
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

// binDir finds the PostgreSQL server binaries: on PATH, else Debian's /usr/lib/postgresql/N/bin
// (newest first), which the package does not put on PATH.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries (initdb) on PATH or in /usr/lib/postgresql/*/bin")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func lastLines(b []byte) string {
	b = bytes.TrimSpace(b)
	if i := len(b) - 600; i > 0 {
		b = b[i:]
	}
	return string(b)
}
