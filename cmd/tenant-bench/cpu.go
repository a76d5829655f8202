package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of /proc/<pid>/stat's CPU times: USER_HZ, 100 on every Linux the bench
// runs on (reading it needs sysconf, which Go has no portable call for without cgo).
const clockTick = 10 * time.Millisecond

// cpuUse is the CPU time spent so far by the bench's own process (the operator and the bench
// itself, which share it) and by the control plane it started (kube-apiserver and etcd, its
// child processes): where a row's CPU went on the shared cores.
type cpuUse struct {
	self, apiServer, etcd time.Duration
	// found is false where /proc does not show the control plane (not Linux): only self counts.
	found bool
}

func cpuNow() cpuUse {
	var u cpuUse
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		u.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	me := os.Getpid()
	for _, path := range stats {
		comm, ppid, ticks, ok := procStat(path)
		if !ok || ppid != me {
			continue
		}
		switch comm {
		case "kube-apiserver":
			u.apiServer += time.Duration(ticks) * clockTick
			u.found = true
		case "etcd":
			u.etcd += time.Duration(ticks) * clockTick
			u.found = true
		}
	}
	return u
}

// procStat reads a process's name, parent and utime+stime (clock ticks) from /proc/<pid>/stat:
// "pid (comm) state ppid … utime stime …", comm in parentheses and possibly holding spaces.
func procStat(path string) (comm string, ppid int, ticks int64, ok bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", 0, 0, false
	}
	s := string(data)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return "", 0, 0, false
	}
	comm = s[open+1 : closing]
	// After the comm: state(0) ppid(1) pgrp session tty_nr tpgid flags minflt cminflt majflt
	// cmajflt utime(11) stime(12).
	fields := strings.Fields(s[closing+1:])
	if len(fields) < 13 {
		return "", 0, 0, false
	}
	ppid, err1 := strconv.Atoi(fields[1])
	ut, err2 := strconv.ParseInt(fields[11], 10, 64)
	st, err3 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return "", 0, 0, false
	}
	return comm, ppid, ut + st, true
}

// since is the CPU spent from u0 to u, split by process, against the wall time elapsed and per
// tenant: "CPU 1.97 cores busy (API server 68 %, etcd 11 %, operator + bench 21 %), 65.2 ms per
// tenant".
func (u cpuUse) since(u0 cpuUse, wall time.Duration, n int) string {
	self, api, etcd := u.self-u0.self, u.apiServer-u0.apiServer, u.etcd-u0.etcd
	total := self + api + etcd
	if total <= 0 || wall <= 0 {
		return "CPU not measured"
	}
	share := func(d time.Duration) float64 { return 100 * d.Seconds() / total.Seconds() }
	split := fmt.Sprintf("operator + bench %.0f %%", share(self))
	if u.found {
		split = fmt.Sprintf("API server %.0f %%, etcd %.0f %%, %s", share(api), share(etcd), split)
	} else {
		split += "; the control plane's not found in /proc"
	}
	return fmt.Sprintf("CPU %.2f cores busy (%s), %.1f ms per tenant",
		total.Seconds()/wall.Seconds(), split, float64(total.Microseconds())/1000/float64(n))
}

var cpuProfile = flag.String("cpu-profile", "", "write a Go CPU profile of the process (operator and bench) over B2's stateless tenants to this file (go tool pprof)")

// startCPUProfile profiles the process into path until the returned stop is called; an empty
// path profiles nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "--cpu-profile: %v\n", err)
		}
	}, nil
}
