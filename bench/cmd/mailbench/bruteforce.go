package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mailproxy/bench/loadgen"
)

// mailbench bruteforce: an IMAP password-guessing storm from many source
// addresses (127.0.1.x) with legitimate users logging in alongside from
// 127.0.0.x, against a proxy whose auth_http points at the auth server
// this command runs itself (-auth), so that it can count the requests that
// reach it by Client-IP. It reports the legitimate logins' success rate and
// latency, the auth_http requests caused by attacking addresses (and those
// after the address had been seen banned: mailproxy's ban reply is
// "NO authentication failed", the auth server's is "Invalid login or
// password"), and the proxy's CPU per attempt (-pid).
//
//	mailbench mockbackend -imap 127.0.0.1:19143 &
//	mailbench bruteforce -addr 127.0.0.1:1143 -auth 127.0.0.1:19081 -backend 127.0.0.1:19143 -pid PID

func init() { subcommands["bruteforce"] = runBruteforce }

type bfAuth struct {
	backendHost, backendPort string

	mu       sync.Mutex
	byIP     map[string]uint64
	afterBan uint64
	banned   *sync.Map // attacking address -> time first seen banned
	total    atomic.Uint64
}

func (a *bfAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.total.Add(1)
	ip := r.Header.Get("Client-IP")
	a.mu.Lock()
	a.byIP[ip]++
	if _, ok := a.banned.Load(ip); ok {
		a.afterBan++
	}
	a.mu.Unlock()
	if strings.HasPrefix(r.Header.Get("Auth-User"), "legit") && r.Header.Get("Auth-Pass") == "pass" {
		w.Header().Set("Auth-Status", "OK")
		w.Header().Set("Auth-Server", a.backendHost)
		w.Header().Set("Auth-Port", a.backendPort)
	} else {
		w.Header().Set("Auth-Status", "Invalid login or password")
	}
	w.WriteHeader(http.StatusOK)
}

func runBruteforce(args []string) error {
	fs := flag.NewFlagSet("bruteforce", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:1143", "proxy IMAP address")
	authAddr := fs.String("auth", "127.0.0.1:19081", "listen address of the counting auth_http server (the proxy's auth_http)")
	backend := fs.String("backend", "127.0.0.1:19143", "IMAP backend returned to legitimate logins")
	rate := fs.Float64("k", 500, "attack attempts per second (open loop); 0: no attack, the baseline")
	attackers := fs.Int("attackers", 200, "attacking source addresses 127.0.1.1...")
	victims := fs.Int("victims", 1000, "login names the attack sprays over")
	inflight := fs.Int("inflight", 1000, "attack connections open at once at most (tarpits hold them); beyond, attempts are skipped and counted")
	legit := fs.Int("legit", 8, "legitimate workers, each from its own 127.0.0.x, logging in one after another")
	dur := fs.Duration("d", 20*time.Second, "run time")
	pids := fs.String("pid", "", "comma-separated proxy pids (CPU per attempt)")
	fs.Parse(args)

	bh, bp, err := net.SplitHostPort(*backend)
	if err != nil {
		return err
	}
	auth := &bfAuth{backendHost: bh, backendPort: bp, byIP: map[string]uint64{}, banned: &sync.Map{}}
	ln, err := net.Listen("tcp", *authAddr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: auth}
	go hs.Serve(ln)
	defer hs.Close()

	var roots []int
	for _, f := range strings.Split(*pids, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			roots = append(roots, n)
		}
	}
	cpu0 := loadgen.SampleTree(roots, false)
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	start := time.Now()

	var attempts, skipped, attackErr, banReplies atomic.Uint64
	slots := make(chan struct{}, *inflight)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the storm
		defer wg.Done()
		if *rate <= 0 {
			return // -k 0: the baseline, legitimate logins only
		}
		interval := time.Duration(float64(time.Second) / *rate)
		for i := 0; ctx.Err() == nil; i++ {
			due := start.Add(time.Duration(i) * interval)
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			}
			select {
			case slots <- struct{}{}:
			default:
				skipped.Add(1)
				continue
			}
			attempts.Add(1)
			src := fmt.Sprintf("127.0.1.%d", 1+i%*attackers)
			user := fmt.Sprintf("victim%d", i%*victims)
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done() }()
				line, err := bfLogin(src, *addr, user, "guess"+strconv.Itoa(i), 30*time.Second)
				switch {
				case err != nil:
					attackErr.Add(1)
				case line == "a1 NO authentication failed":
					banReplies.Add(1)
					auth.banned.LoadOrStore(src, time.Now())
				}
			}()
		}
	}()

	var okN, failN atomic.Uint64
	hists := make([]loadgen.Histogram, *legit)
	for w := range *legit {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := fmt.Sprintf("127.0.0.%d", 2+w)
			for n := 0; ctx.Err() == nil; n++ {
				t0 := time.Now()
				line, err := bfLogin(src, *addr, fmt.Sprintf("legit%d", w), "pass", 10*time.Second)
				if err == nil && strings.HasPrefix(line, "a1 OK") {
					okN.Add(1)
					hists[w].Record(time.Since(t0))
				} else {
					failN.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1 := loadgen.SampleTree(roots, false)

	var h loadgen.Histogram
	for i := range hists {
		h.Merge(&hists[i])
	}
	lat := h.Summary()
	auth.mu.Lock()
	var fromAttack uint64
	for ip, n := range auth.byIP {
		if strings.HasPrefix(ip, "127.0.1.") {
			fromAttack += n
		}
	}
	afterBan := auth.afterBan
	auth.mu.Unlock()
	bannedAddrs := 0
	auth.banned.Range(func(any, any) bool { bannedAddrs++; return true })

	legitTotal := okN.Load() + failN.Load()
	fmt.Printf("bruteforce against %s for %v: %.0f attempts/s offered from %d addresses over %d logins\n", *addr, elapsed.Round(time.Millisecond), *rate, *attackers, *victims)
	fmt.Printf("  attack attempts        %d (skipped, %d in flight: %d; errors: %d)\n", attempts.Load(), *inflight, skipped.Load(), attackErr.Load())
	fmt.Printf("  auth_http from attack  %d (%.1f%% of attempts); after the address was seen banned: %d\n", fromAttack, 100*float64(fromAttack)/max(1, float64(attempts.Load())), afterBan)
	fmt.Printf("  ban replies            %d, addresses seen banned %d\n", banReplies.Load(), bannedAddrs)
	if legitTotal > 0 {
		fmt.Printf("  legitimate logins      %d ok, %d failed (%.2f%% ok); latency p50 %.2f ms p99 %.2f ms max %.2f ms\n",
			okN.Load(), failN.Load(), 100*float64(okN.Load())/float64(legitTotal), lat.P50, lat.P99, lat.Max)
	}
	if len(roots) > 0 && attempts.Load()+okN.Load() > 0 {
		cpu := cpu1.CPU - cpu0.CPU
		fmt.Printf("  proxy CPU              %v total, %.1f µs per login attempt (attack and legitimate)\n", cpu, float64(cpu.Microseconds())/float64(attempts.Load()+okN.Load()))
	}
	fmt.Printf("  auth_http requests     %d total\n", auth.total.Load())
	return nil
}

// bfLogin connects from src, logs in and returns the tagged reply.
func bfLogin(src, addr, user, pass string, timeout time.Duration) (string, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	r := bufio.NewReader(c)
	g, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(g, "* OK") {
		return strings.TrimSpace(g), nil // a refusal at connect
	}
	if _, err := fmt.Fprintf(c, "a1 LOGIN %s %s\r\n", user, pass); err != nil {
		return "", err
	}
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		l = strings.TrimRight(l, "\r\n")
		if strings.HasPrefix(l, "a1 ") {
			if strings.HasPrefix(l, "a1 OK") {
				fmt.Fprintf(c, "a2 LOGOUT\r\n")
			}
			return l, nil
		}
	}
}
