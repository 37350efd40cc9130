package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMajorVersion(t *testing.T) {
	for v, want := range map[string]int{"15.14 (Debian 15.14-0+deb12u1)": 15, "9.6.24": 9, "17beta1": 17, "16": 16, "": 0} {
		if got := majorVersion(v); got != want {
			t.Errorf("majorVersion(%q) = %d, want %d", v, got, want)
		}
	}
}

// A cluster started from the kept initdb template serves as one made by initdb does.
func TestStartTwiceFromTheTemplate(t *testing.T) {
	for i := range 2 {
		c, err := Start(Options{})
		if err != nil && i == 0 && os.Getenv("CI") != "true" {
			t.Skipf("skipping: no throwaway cluster: %v", err)
		}
		if err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
		conn, err := pgx.Connect(context.Background(), c.DSN)
		if err != nil {
			c.Stop()
			t.Fatalf("start %d: %v", i+1, err)
		}
		var n int
		err = conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = 'template1'").Scan(&n)
		conn.Close(context.Background())
		c.Stop()
		if err != nil || n != 1 {
			t.Fatalf("start %d: template1 %d, %v", i+1, n, err)
		}
	}
}
