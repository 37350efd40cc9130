package pgtest

import "syscall"

// procAttr runs a server process as cred (nil: as the caller) and has the kernel stop it with an
// immediate shutdown should the test binary die without stopping it.
func procAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
}
