package ui

import "strings"

// WorkflowCommand is a GitHub Actions workflow command, "::LEVEL title=TITLE::MESSAGE", an
// annotation on the job: escaped so that a % or a line break in the message, or a : or , in the
// title, neither breaks it nor ends it early.
func WorkflowCommand(level, title, message string) string {
	return "::" + level + " title=" + escapeProperty(title) + "::" + escapeData(message) + "\n"
}

func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
