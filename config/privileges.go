package config

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// DropPrivileges switches the whole process (every thread: Go ≥ 1.16 on
// Linux) to the "user" directive's user and group. It does nothing when
// the process is not root or no user is set. Call it after every listener
// is bound: ports below 1024 need root to bind, not to accept.
func (c *Config) DropPrivileges() error {
	if c.User == "" || os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup(c.User)
	if err != nil {
		return fmt.Errorf(`getpwnam("%s") failed`, c.User)
	}
	g, err := user.LookupGroup(c.Group)
	if err != nil {
		return fmt.Errorf(`getgrnam("%s") failed`, c.Group)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("setgroups(%d) failed %s", gid, syscallErr(err))
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid(%d) failed %s", gid, syscallErr(err))
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid(%d) failed %s", uid, syscallErr(err))
	}
	return nil
}
