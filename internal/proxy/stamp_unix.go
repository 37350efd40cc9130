//go:build unix

package proxy

import (
	"os"
	"syscall"
)

// stampOf identifies a file version; the inode changes on every atomic replacement, even within the
// modification time's resolution.
func stampOf(fi os.FileInfo) stamp {
	s := stamp{mod: fi.ModTime(), size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = uint64(st.Ino)
	}
	return s
}
