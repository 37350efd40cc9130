// Command gendocs writes klrbac's shell completions (make completions) and man pages (make man).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra/doc"

	"github.com/klrbac/klrbac/cmd"
)

func main() {
	completions := flag.String("completions", "", "write completion scripts to this directory")
	man := flag.String("man", "", "write man pages to this directory")
	flag.Parse()
	if *completions == "" && *man == "" {
		fmt.Fprintln(os.Stderr, "gendocs: pass -completions DIR and/or -man DIR")
		os.Exit(2)
	}
	if *completions != "" {
		if err := writeCompletions(*completions); err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
	}
	if *man != "" {
		if err := os.MkdirAll(*man, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
		root := cmd.NewRootCommand()
		root.DisableAutoGenTag = true
		header := &doc.GenManHeader{Title: "KLRBAC", Section: "1", Source: "klrbac", Manual: "klrbac manual"}
		if err := doc.GenManTree(root, header, *man); err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
	}
}

func writeCompletions(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for shell, name := range cmd.CompletionShells {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := cmd.GenerateCompletion(shell, f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
