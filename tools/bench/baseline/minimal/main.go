// Command minimal is the start-up baseline: a Go program that answers like `klrbac check` and exits.
package main

import "os"

func main() { os.Stdout.WriteString("yes\n") }
