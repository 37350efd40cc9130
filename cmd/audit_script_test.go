package cmd

import (
	"os"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// Script commands that damage an audit log the ways verify must notice. Lines count from 1.

// cmdEditLine replaces the first OLD in line N: editline FILE N OLD NEW
func cmdEditLine(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: editline FILE N OLD NEW")
	}
	editLines(ts, args[0], func(ls []string) []string {
		i := lineIndex(ts, ls, args[1])
		if !strings.Contains(ls[i], args[2]) {
			ts.Fatalf("editline: line %s has no %q", args[1], args[2])
		}
		ls[i] = strings.Replace(ls[i], args[2], args[3], 1)
		return ls
	})
}

// cmdDropLine deletes line N: dropline FILE N
func cmdDropLine(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: dropline FILE N")
	}
	editLines(ts, args[0], func(ls []string) []string {
		i := lineIndex(ts, ls, args[1])
		return append(ls[:i], ls[i+1:]...)
	})
}

// cmdSwapLines exchanges lines A and B: swaplines FILE A B
func cmdSwapLines(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: swaplines FILE A B")
	}
	editLines(ts, args[0], func(ls []string) []string {
		i, j := lineIndex(ts, ls, args[1]), lineIndex(ts, ls, args[2])
		ls[i], ls[j] = ls[j], ls[i]
		return ls
	})
}

// cmdCutBytes removes N bytes from the end of a file, as a crash mid-write leaves it: cutbytes FILE N
func cmdCutBytes(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cutbytes FILE N")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	path := ts.MkAbs(args[0])
	st, err := os.Stat(path)
	ts.Check(err)
	ts.Check(os.Truncate(path, st.Size()-int64(n)))
}

func editLines(ts *testscript.TestScript, file string, edit func([]string) []string) {
	path := ts.MkAbs(file)
	data, err := os.ReadFile(path)
	ts.Check(err)
	ls := strings.SplitAfter(string(data), "\n")
	if ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	ts.Check(os.WriteFile(path, []byte(strings.Join(edit(ls), "")), 0o600))
}

func lineIndex(ts *testscript.TestScript, ls []string, n string) int {
	i, err := strconv.Atoi(n)
	if err != nil || i < 1 || i > len(ls) {
		ts.Fatalf("no line %s (the file has %d)", n, len(ls))
	}
	return i - 1
}
