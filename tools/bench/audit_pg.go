package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/pgtest"
)

func init() {
	register(benchmark{
		name: "pg-append",
		what: "8 processes x 200 audited `klrbac check`: PostgreSQL trail vs file log, entries/s",
		run:  runPGAppendBench,
	})
	register(benchmark{
		name: "pg-proxy-append",
		what: "in-process appends with group commit, 32 concurrent writers, to the PostgreSQL trail: entries/s",
		run:  runPGProxyAppendBench,
	})
	register(benchmark{
		name: "pg-verify",
		what: "verify throughput, PostgreSQL trail vs file log, on the same 1M entries",
		run:  runPGVerifyBench,
	})
	register(benchmark{
		name: "pg-follow",
		what: "latency from an append's commit to its line printed by `klrbac audit tail -f` on the PostgreSQL trail",
		run:  runPGFollowBench,
	})
}

// pgCluster starts a throwaway cluster with fsync on, as a real server runs, since the file log it
// is compared with syncs every append.
func pgCluster() (*pgtest.Cluster, error) {
	c, err := pgtest.Start(pgtest.Options{Durable: true})
	if err != nil {
		return nil, fmt.Errorf("these benchmarks need the PostgreSQL server binaries (Debian: postgresql): %w", err)
	}
	return c, nil
}

// pgDatabase creates a database of its own on the cluster and returns its DSN.
func pgDatabase(c *pgtest.Cluster, name string) (string, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.DSN)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return pgtest.WithDatabase(c.DSN, name), nil
}

func runPGAppendBench(env *benchEnv) error {
	c, err := pgCluster()
	if err != nil {
		return err
	}
	defer c.Stop()
	const procs, each = 8, 200
	argv := []string{env.klrbac, "check", "admin", "canReadProfiles"}
	run := func(extra []string) (time.Duration, error) {
		return runProcesses(procs, each, argv, append([]string{"KLRBAC_AUDIT_CHECKS=all"}, extra...)...)
	}
	var file, pg []float64
	rounds := max(2, env.samples/5)
	var lastDSN string
	for i := range rounds {
		log := filepath.Join(env.dir, fmt.Sprintf("pg-append-%d.log", i))
		d, err := run([]string{"KLRBAC_AUDIT_LOG=" + log})
		if err != nil {
			return err
		}
		file = append(file, procs*each/d.Seconds())
		os.Remove(log)
		os.Remove(log + ".lock")
		dsn, err := pgDatabase(c, fmt.Sprintf("append_%d", i))
		if err != nil {
			return err
		}
		// The schema is made once, beforehand, as `klrbac audit migrate` would.
		if err := migrate(dsn); err != nil {
			return err
		}
		d, err = run([]string{"KLRBAC_AUDIT_DSN=" + dsn, "KLRBAC_AUDIT_LOG=" + filepath.Join(env.dir, "must-not-exist.log")})
		if err != nil {
			return err
		}
		pg = append(pg, procs*each/d.Seconds())
		lastDSN = dsn
	}
	if _, err := os.Stat(filepath.Join(env.dir, "must-not-exist.log")); err == nil {
		return fmt.Errorf("with audit.dsn set, a local audit file was written")
	}
	if err := verifyCount(lastDSN, procs*each); err != nil {
		return err
	}
	f, p := median(file), median(pg)
	fmt.Printf("   file log:   median %7.0f entries/s\n", f)
	fmt.Printf("   PostgreSQL: median %7.0f entries/s\n", p)
	fmt.Printf("   ratio PostgreSQL / file: %.2fx  (target >= 0.5: %s)\n", p/f, verdict(p/f >= 0.5))
	return nil
}

func migrate(dsn string) error {
	s, err := pgstore.Open(dsn, pgstore.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	_, _, err = s.Migrate(context.Background())
	return err
}

// verifyCount checks that the trail holds want entries and verifies: the figures count only
// appends that were really kept.
func verifyCount(dsn string, want int64) error {
	s, err := pgstore.Open(dsn, pgstore.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	rep, err := s.Verify(context.Background(), audit.VerifyOptions{})
	if err != nil {
		return err
	}
	if !rep.OK() || rep.Entries != want {
		return fmt.Errorf("the trail holds %d entries (want %d), problems: %v", rep.Entries, want, rep.Problems)
	}
	fmt.Printf("   the PostgreSQL trail verifies: %d entries, head seq %d\n", rep.Entries, rep.Head.Seq)
	return nil
}

func runPGProxyAppendBench(env *benchEnv) error {
	c, err := pgCluster()
	if err != nil {
		return err
	}
	defer c.Stop()
	const writers, each = 32, 500
	var rates, commits []float64
	var lastDSN string
	for i := range max(3, env.samples/5) {
		dsn, err := pgDatabase(c, fmt.Sprintf("proxy_%d", i))
		if err != nil {
			return err
		}
		commit, err := commitLatency(dsn, 200)
		if err != nil {
			return err
		}
		commits = append(commits, ms(commit))
		s, err := pgstore.Open(dsn, pgstore.Options{})
		if err != nil {
			return err
		}
		if _, err := s.Append(context.Background(), audit.Entry{UserID: "bench", Action: "bench.warmup"}); err != nil {
			s.Close()
			return err
		}
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		start := time.Now()
		for w := range writers {
			wg.Go(func() {
				for range each {
					e := audit.Entry{UserID: fmt.Sprintf("token-%d", w), Role: "service", Action: "proxy.call", Resource: "GET /api/profiles", Success: true}
					if _, err := s.Append(context.Background(), e); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		d := time.Since(start)
		s.Close()
		close(errs)
		if err := <-errs; err != nil {
			return err
		}
		rates = append(rates, writers*each/d.Seconds())
		lastDSN = dsn
	}
	if err := verifyCount(lastDSN, writers*each+1); err != nil {
		return err
	}
	r := median(rates)
	// Each writer waits for its entry's commit, so 32 writers in a loop get at most 32 entries per
	// commit: the server's commit latency, which a busy disk sets, bounds the figure.
	cl := median(commits)
	fmt.Printf("   a durable one-row commit on this server: median %.2f ms, so at most %.0f entries/s for %d writers in a loop\n", cl, writers*1000/cl, writers)
	fmt.Printf("   32 writers, group commit: median %7.0f entries/s (each entry committed before its Append returns)\n", r)
	fmt.Printf("   target >= 5000 entries/s: %s\n", verdict(r >= 5000))
	return nil
}

// commitLatency is the median time of n durable one-row commits to a table of their own in dsn's
// database.
func commitLatency(dsn string, n int) (time.Duration, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE commit_probe (n bigint)"); err != nil {
		return 0, err
	}
	var lat []float64
	for i := range n {
		start := time.Now()
		if _, err := conn.Exec(ctx, "INSERT INTO commit_probe VALUES ($1)", i); err != nil {
			return 0, err
		}
		lat = append(lat, float64(time.Since(start)))
	}
	return time.Duration(median(lat)), nil
}

func runPGVerifyBench(env *benchEnv) error {
	c, err := pgCluster()
	if err != nil {
		return err
	}
	defer c.Stop()
	const n = 1_000_000
	dsn, err := pgDatabase(c, "verify")
	if err != nil {
		return err
	}
	if err := migrate(dsn); err != nil {
		return err
	}
	path := filepath.Join(env.dir, "pg-verify.log")
	defer os.Remove(path)
	if err := writeBoth(dsn, path, n); err != nil {
		return err
	}
	s, err := pgstore.Open(dsn, pgstore.Options{StatementTimeout: time.Minute})
	if err != nil {
		return err
	}
	defer s.Close()
	reader, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		return err
	}
	defer reader.Close(context.Background())
	var file, pg, read []float64
	for i := range min(env.samples, 3) + 1 {
		start := time.Now()
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		rep, err := audit.Verify(f, audit.VerifyOptions{})
		f.Close()
		if err != nil || !rep.OK() || rep.Entries != n {
			return fmt.Errorf("the file does not verify: %v %v", err, rep.Problems)
		}
		fd := time.Since(start)
		start = time.Now()
		rep, err = s.Verify(context.Background(), audit.VerifyOptions{})
		if err != nil || !rep.OK() || rep.Entries != n {
			return fmt.Errorf("the database does not verify: %v %v", err, rep)
		}
		pd := time.Since(start)
		start = time.Now()
		got, err := readRowsOnly(reader)
		if err != nil || got != n {
			return fmt.Errorf("reading the rows: %d of %d: %v", got, n, err)
		}
		rd := time.Since(start)
		if i > 0 { // the first round warms the page cache and the server's buffers
			file = append(file, n/fd.Seconds())
			pg = append(pg, n/pd.Seconds())
			read = append(read, n/rd.Seconds())
		}
	}
	f, p, r := median(file), median(pg), median(read)
	fmt.Printf("   file log:   median %9.0f entries/s\n", f)
	fmt.Printf("   PostgreSQL: median %9.0f entries/s\n", p)
	fmt.Printf("   PostgreSQL rows only, nothing checked: median %9.0f rows/s\n", r)
	fmt.Printf("   ratio rows only / file: %.2fx  (the server streaming the rows: no verifier reading them does better)\n", r/f)
	fmt.Printf("   ratio PostgreSQL / file: %.2fx  (target >= 0.5: %s)\n", p/f, verdict(p/f >= 0.5))
	return nil
}

// readRowsOnly streams the columns Verify reads, in binary as Verify asks for them, and only counts
// the rows: what the server and the connection cost before any checking.
func readRowsOnly(conn *pgx.Conn) (int, error) {
	rr := conn.PgConn().ExecParams(context.Background(), `SELECT seq, ts, user_id, role, action, line FROM audit_entries`,
		nil, nil, nil, []int16{1, 1, 1, 1, 1, 1})
	rows := 0
	for rr.NextRow() {
		rows++
	}
	_, err := rr.Close()
	return rows, err
}

// writeBoth writes the same n entries to a file log and to the database's table, with COPY.
func writeBoth(dsn, path string, n int) error {
	start := time.Now()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 4<<20)
	kinds := []audit.Entry{
		{UserID: "alice@example.com", Role: "viewer", Action: "check", Resource: "canDeleteProfiles", Reason: "role viewer does not hold canDeleteProfiles", Alert: "denied-profile-deletion"},
		{UserID: "github:deploy-bot", Role: "service", Action: "check", Resource: "POST /api/events", Success: true, Reason: "role service has events:write"},
		{UserID: "bob", Role: "admin", Action: "keys.set", Resource: "marketer", Success: true, Fingerprint: "sha256:0123456789abcdef", Reason: "stored in the keyring"},
	}
	chain := audit.NewChain()
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf []byte
	i := 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"audit_entries"}, []string{"seq", "ts", "user_id", "role", "action", "line"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			e := kinds[i%len(kinds)]
			e.Timestamp, e.Host = ts.Add(time.Duration(i)*time.Second), "ws-1"
			i++
			buf, e = chain.Next(buf[:0], e)
			if _, err := w.Write(buf); err != nil {
				return nil, err
			}
			return []any{int64(e.Seq), e.Timestamp, e.UserID, e.Role, e.Action, string(buf[:len(buf)-1])}, nil
		}))
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE audit_entries"); err != nil {
		return err
	}
	fmt.Printf("   wrote %d entries to a file and to PostgreSQL in %.1fs\n", n, time.Since(start).Seconds())
	return nil
}

func runPGFollowBench(env *benchEnv) error {
	c, err := pgCluster()
	if err != nil {
		return err
	}
	defer c.Stop()
	dsn, err := pgDatabase(c, "follow")
	if err != nil {
		return err
	}
	s, err := pgstore.Open(dsn, pgstore.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Append(ctx, audit.Entry{UserID: "bench", Action: "bench.follow"}); err != nil {
		return err
	}
	cmd := exec.Command(env.klrbac, "audit", "tail", "-f", "-n", "1", "-o", "json")
	cmd.Env = append(os.Environ(), "KLRBAC_AUDIT_DSN="+dsn)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := make(chan time.Time, 1000)
	go func() {
		r := bufio.NewReader(out)
		for {
			if _, err := r.ReadBytes('\n'); err != nil {
				close(lines)
				return
			}
			lines <- time.Now()
		}
	}()
	select {
	case <-lines:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("klrbac audit tail -f printed nothing")
	}
	n := max(60, env.samples*6)
	var lat []float64
	for range n {
		time.Sleep(time.Duration(20+rand.IntN(40)) * time.Millisecond)
		// From the start of the append, its commit included: the follower may print before
		// Append's return is seen, so an upper bound of the latency from the commit.
		written := time.Now()
		if _, err := s.Append(ctx, audit.Entry{UserID: "bench", Action: "bench.follow"}); err != nil {
			return err
		}
		select {
		case t, ok := <-lines:
			if !ok {
				return fmt.Errorf("klrbac audit tail -f ended")
			}
			lat = append(lat, ms(t.Sub(written)))
		case <-time.After(5 * time.Second):
			return fmt.Errorf("klrbac audit tail -f did not print an appended entry within 5s")
		}
	}
	p95 := percentile(lat, 0.95)
	fmt.Printf("   klrbac audit tail -f (PostgreSQL): median %7.2f ms   p95 %7.2f ms   (%d appends)\n", median(lat), p95, n)
	fmt.Printf("   p95 target <= 250 ms: %s\n", verdict(p95 <= 250))
	return nil
}
