package config

import (
	_ "embed"
	"strings"
)

//go:generate go run ./internal/gendoc -out ../../docs/configuration.md

// referenceTemplate is docs/configuration.md around the rows of the settings table.
//
//go:embed configuration.md.tmpl
var referenceTemplate string

// Reference is docs/configuration.md: the template with a row for every setting of the table
// Settings, where it may come from and its default, so that the page and `config show` cannot
// disagree.
func Reference() []byte {
	var rows strings.Builder
	for _, s := range Settings {
		rows.WriteString("|")
		for _, cell := range []string{code(s.Key), code(s.Env), code(prefixed("--", s.Flag)), code(s.Default), s.Help} {
			if cell != "" {
				rows.WriteString(" " + cell)
			}
			rows.WriteString(" |")
		}
		rows.WriteString("\n")
	}
	return []byte(strings.Replace(referenceTemplate, "{{settings}}\n", rows.String(), 1))
}

// code quotes s as markdown code; an empty cell stays empty.
func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}
