//go:build !unix

package proxy

import "os"

func stampOf(fi os.FileInfo) stamp { return stamp{mod: fi.ModTime(), size: fi.Size()} }
