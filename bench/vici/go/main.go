// govici (github.com/strongswan/govici) client for the roamwatch vici benchmark: subscribe to
// list-sa and ike-updown through the public Session API and time until n events arrive on a
// NotifyEvents channel large enough to never drop. Usage: bench-govici <socket path> <n>
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/strongswan/govici/vici"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: bench-govici <socket path> <n>")
		os.Exit(2)
	}
	path := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		panic(err)
	}
	s, err := vici.NewSession(vici.WithSocketPath(path))
	if err != nil {
		panic(err)
	}
	defer s.Close()
	ch := make(chan vici.Event, n+16)
	s.NotifyEvents(ch)
	t0 := time.Now()
	c0 := cpuTime()
	if err := s.Subscribe("list-sa", "ike-updown"); err != nil {
		panic(err)
	}
	got := 0
	timeout := time.After(120 * time.Second)
	for got < n {
		select {
		case _, ok := <-ch:
			if !ok {
				panic("event channel closed early")
			}
			got++
		case <-timeout:
			panic(fmt.Sprintf("timed out after %d of %d events", got, n))
		}
	}
	ms := float64(time.Since(t0).Nanoseconds()) / 1e6
	cpuMs := float64((cpuTime() - c0).Nanoseconds()) / 1e6
	out, _ := json.Marshal(map[string]any{"messages": got, "ms": ms, "cpuMs": cpuMs, "dropped": 0})
	fmt.Println(string(out))
}

// cpuTime is the user + system CPU time of the whole process (all threads).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
