//go:build !unix

package pgtest

import "errors"

// Options tune a throwaway cluster.
type Options struct{ Durable bool }

// Cluster is a throwaway PostgreSQL server; only Unix systems can start one here.
type Cluster struct {
	DSN  string
	Port int
}

// Start cannot start a cluster on this system: name a server in KLRBAC_TEST_PG_DSN instead.
func Start(Options) (*Cluster, error) {
	return nil, errors.New("starting a throwaway PostgreSQL cluster is supported on Unix only")
}

// Stop does nothing here.
func (c *Cluster) Stop() {}

// Restart cannot restart here.
func (c *Cluster) Restart() error { return errors.New("not supported") }
