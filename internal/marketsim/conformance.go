package marketsim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Check is one line of a conformance run.
type Check struct {
	Name   string
	Passed bool
	Detail string
}

// ConformanceOptions shape a conformance run.
type ConformanceOptions struct {
	// Spec is a spec the product sells (paid orders use it).
	Spec string
	// UpgradeSpec is a second spec for modifyInstance; Spec when empty.
	UpgradeSpec string
	// Trial also checks a trial order and its conversion to paid.
	Trial bool
	// Concurrency is how many copies of one createInstance are sent at once. Default 8.
	Concurrency int
	// OrderPrefix makes this run's order ids unique; the time when empty.
	OrderPrefix string
	// DebugToken, when set, is the Token of the console's online debugger: the run also plays
	// the debugger (its calls are tests, never paying orders) and checks that the debugger's
	// instances and the paying ones never reach each other.
	DebugToken string
	// FlowUnit, when set, plays a metered product (计量类) whose flow unit it is (m, h, Mb, Gb):
	// paid orders buy 100 of it, and the run checks flowSetting and flowQuery.
	FlowUnit string
}

// Conformance runs the checks of Tencent's online interface debugger (verify, create, renew,
// modify, expire, destroy) and the negative and robustness cases a delivery URL must survive.
func (s *Sim) Conformance(ctx context.Context, o ConformanceOptions) []Check {
	if o.Concurrency == 0 {
		o.Concurrency = 8
	}
	if o.UpgradeSpec == "" {
		o.UpgradeSpec = o.Spec
	}
	if o.OrderPrefix == "" {
		o.OrderPrefix = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	var cl Checklist
	add, describe := cl.Add, Describe
	answeredInTime := func(r *Response) bool { return r.Elapsed < 5*time.Second }

	// The debugger's checklist.
	r, echo, err := s.Verify(ctx)
	add("verifyInterface echoes", err == nil && r.Status == 200 && r.Field("echoback") == echo, "%s", describe(r, err))

	order := Order{ID: o.OrderPrefix + "-paid", AccountID: "100000000001", OpenID: "", Spec: o.Spec, TimeSpan: 1, TimeUnit: "m"}
	if o.FlowUnit != "" {
		order.Flow, order.FlowUnit = 100, o.FlowUnit
	}
	r, err = s.Create(ctx, order)
	signID := ""
	if err == nil {
		signID = r.Field("signId")
	}
	add("createInstance answers a signId", err == nil && r.Succeeded() && len(signID) <= 11 && answeredInTime(r), "%s", describe(r, err))
	if signID == "" {
		add("lifecycle checks", false, "skipped: no signId")
		return cl.Checks
	}
	r, err = s.Create(ctx, order)
	add("createInstance repeated: same signId", err == nil && r.Field("signId") == signID, "%s", describe(r, err))
	if o.DebugToken != "" {
		s.debuggerChecks(ctx, add, o, signID)
	}

	var wg sync.WaitGroup
	ids := make([]string, o.Concurrency)
	dup := Order{ID: o.OrderPrefix + "-concurrent", AccountID: order.AccountID, Spec: o.Spec, TimeSpan: 1, TimeUnit: "m"}
	dup.Flow, dup.FlowUnit = order.Flow, order.FlowUnit
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if r, err := s.Create(ctx, dup); err == nil {
				ids[i] = r.Field("signId")
			}
		}(i)
	}
	wg.Wait()
	same := ids[0] != ""
	for _, id := range ids {
		same = same && id == ids[0]
	}
	add(fmt.Sprintf("createInstance ×%d concurrently: one signId", o.Concurrency), same, "%v", ids)

	expiry := s.now().AddDate(0, 2, 0)
	r, err = s.Renew(ctx, order, signID, o.OrderPrefix+"-renew", expiry)
	add("renewInstance", err == nil && r.Succeeded(), "%s", describe(r, err))
	r, err = s.Renew(ctx, order, signID, o.OrderPrefix+"-renew", expiry)
	add("renewInstance repeated", err == nil && r.Succeeded(), "%s", describe(r, err))
	r, err = s.Modify(ctx, order, signID, o.OrderPrefix+"-modify", o.UpgradeSpec, 0, "", time.Time{})
	add("modifyInstance (spec change)", err == nil && r.Succeeded(), "%s", describe(r, err))
	if o.FlowUnit != "" {
		s.meteredChecks(ctx, add, order, signID)
	}

	if o.Trial {
		trial := Order{ID: o.OrderPrefix + "-trial", AccountID: order.AccountID, Trial: true}
		r, err = s.Create(ctx, trial)
		trialID := ""
		if err == nil {
			trialID = r.Field("signId")
		}
		add("createInstance (trial)", err == nil && r.Succeeded(), "%s", describe(r, err))
		r, err = s.Modify(ctx, trial, trialID, o.OrderPrefix+"-convert", o.Spec, 1, "y", s.now().AddDate(1, 0, 0))
		add("modifyInstance (trial → paid)", err == nil && r.Succeeded(), "%s", describe(r, err))
	}

	r, err = s.Expire(ctx, order, signID)
	add("expireInstance", err == nil && r.Succeeded(), "%s", describe(r, err))
	r, err = s.Destroy(ctx, order, signID)
	add("destroyInstance", err == nil && r.Succeeded(), "%s", describe(r, err))
	r, err = s.Destroy(ctx, order, signID)
	add("destroyInstance repeated", err == nil && r.Succeeded(), "%s", describe(r, err))
	r, err = s.Create(ctx, order)
	add("createInstance after destroy: same signId, not resurrected", err == nil && r.Field("signId") == signID, "%s", describe(r, err))

	// Negative and robustness cases: each must be refused, and fast.
	body, _ := s.Body("create", Values{OrderID: o.OrderPrefix + "-neg", Spec: o.Spec, TimeSpan: 1, TimeUnit: "m"})
	refused := func(name string, want int, body []byte, sig Signed) {
		r, err := s.Send(ctx, body, sig)
		add(name, err == nil && r.Status == want && !r.Succeeded(), "%s", describe(r, err))
	}
	now := s.now()
	bad := s.NewSigned(now)
	bad.Signature = Sign(s.Token+"x", bad.Timestamp, bad.EventID)
	refused("bad signature refused (401)", http.StatusUnauthorized, body, bad)
	refused("timestamp 5 min old refused (401)", http.StatusUnauthorized, body, s.NewSigned(now.Add(-5*time.Minute)))
	refused("timestamp 5 min ahead refused (401)", http.StatusUnauthorized, body, s.NewSigned(now.Add(5*time.Minute)))

	sig := s.NewSigned(now)
	verifyBody, _ := s.Body("verify", Values{Echoback: "replay"})
	first, err := s.Send(ctx, verifyBody, sig)
	add("signed request accepted once", err == nil && first.Status == 200, "%s", describe(first, err))
	again, err := s.Send(ctx, verifyBody, sig)
	add("identical retry accepted", err == nil && again.Status == 200, "%s", describe(again, err))
	refused("same signature with another body refused (401)", http.StatusUnauthorized, body, sig)

	refused("oversized body refused (413)", http.StatusRequestEntityTooLarge,
		append(append([]byte(`{"action":"verifyInterface","echoback":"`), bytes.Repeat([]byte("x"), 2<<20)...), '"', '}'), s.NewSigned(now))
	refused("malformed JSON refused (400)", http.StatusBadRequest, []byte(`{"action":"createInstance",`), s.NewSigned(now))
	refused("unknown action refused (400)", http.StatusBadRequest, []byte(`{"action":"launchRocket","requestId":"x"}`), s.NewSigned(now))
	refused("renewInstance for an unknown signId refused (404)", http.StatusNotFound,
		mustBody(s.Body("renew", Values{SignID: "tnotexist00", OrderID: "x", ExpireTime: now.AddDate(0, 1, 0)})), s.NewSigned(now))
	return cl.Checks
}

func mustBody(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// PrintChecks writes a pass/fail table and returns the number of failures.
func PrintChecks(w io.Writer, checks []Check) int {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	failed := 0
	for _, c := range checks {
		mark := "PASS"
		if !c.Passed {
			mark = "FAIL"
			failed++
		}
		detail := c.Detail
		if len(detail) > 120 {
			detail = detail[:120] + "…"
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\n", mark, c.Name, detail)
	}
	_ = tw.Flush()
	_, _ = fmt.Fprintf(w, "%d passed, %d failed\n", len(checks)-failed, failed)
	return failed
}

// Checklist collects a conformance run's checks.
type Checklist struct{ Checks []Check }

// Add records one check.
func (c *Checklist) Add(name string, passed bool, format string, args ...any) {
	c.Checks = append(c.Checks, Check{Name: name, Passed: passed, Detail: fmt.Sprintf(format, args...)})
}

// Describe is a check's detail: the answer's status, body and time, or the error.
func Describe(r *Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("HTTP %d %s (%s)", r.Status, strings.TrimSpace(string(r.Body)), r.Elapsed.Round(time.Millisecond))
}

// debuggerChecks plays the console's online debugger with the debug Token: its checklist on an
// instance of its own, and the separation of its instances from the paying instance signID.
func (s *Sim) debuggerChecks(ctx context.Context, add func(string, bool, string, ...any), o ConformanceOptions, signID string) {
	debugger := *s
	debugger.Token = o.DebugToken
	r, echo, err := debugger.Verify(ctx)
	add("debugger: verifyInterface echoes", err == nil && r.Status == 200 && r.Field("echoback") == echo, "%s", Describe(r, err))
	order := Order{ID: o.OrderPrefix + "-debugger", AccountID: "100000000001", Spec: o.Spec, TimeSpan: 1, TimeUnit: "m"}
	r, err = debugger.Create(ctx, order)
	test := ""
	if err == nil {
		test = r.Field("signId")
	}
	add("debugger: createInstance answers a signId", err == nil && r.Succeeded() && test != "" && test != signID, "%s", Describe(r, err))
	if test == "" {
		return
	}
	later := time.Now().AddDate(1, 0, 0)
	r, err = s.Renew(ctx, order, test, order.ID+"-r", later)
	add("production Token cannot renew the debugger's instance", err == nil && !r.Succeeded(), "%s", Describe(r, err))
	r, err = debugger.Renew(ctx, order, signID, order.ID+"-r", later)
	add("debug Token cannot renew a paying instance", err == nil && !r.Succeeded(), "%s", Describe(r, err))
	r, err = debugger.Renew(ctx, order, test, order.ID+"-r2", later)
	add("debugger: renewInstance", err == nil && r.Succeeded(), "%s", Describe(r, err))
	r, err = debugger.Modify(ctx, order, test, order.ID+"-m", o.UpgradeSpec, 0, "", time.Time{})
	add("debugger: modifyInstance", err == nil && r.Succeeded(), "%s", Describe(r, err))
	r, err = debugger.Expire(ctx, order, test)
	add("debugger: expireInstance", err == nil && r.Succeeded(), "%s", Describe(r, err))
	r, err = debugger.Destroy(ctx, order, test)
	add("debugger: destroyInstance", err == nil && r.Succeeded(), "%s", Describe(r, err))
}

// meteredChecks are the metered actions: flowSetting (and a unit it must refuse), flowQuery
// after the purchase and the renewal each bought 100 of the flow unit.
func (s *Sim) meteredChecks(ctx context.Context, add func(string, bool, string, ...any), order Order, signID string) {
	describe := Describe
	r, err := s.FlowSetting(ctx, order, signID, "10", order.FlowUnit, "ON")
	add("flowSetting", err == nil && r.Succeeded(), "%s", describe(r, err))
	r, err = s.FlowSetting(ctx, order, signID, "10", "kb", "ON")
	add("flowSetting with an unknown unit refused", err == nil && !r.Succeeded(), "%s", describe(r, err))
	r, err = s.FlowSetting(ctx, order, signID, "ten", order.FlowUnit, "ON")
	add("flowSetting with a warnSpan that is not a number refused", err == nil && !r.Succeeded(), "%s", describe(r, err))
	r, err = s.FlowQuery(ctx, order, signID)
	cost, cerr := strconv.ParseInt(costFlow(r), 10, 64)
	bought := "200" // the purchase and the renewal
	if s.revision() != Revision2022 {
		bought = "100" // older renewals carry no flow
	}
	add("flowQuery answers the flow bought and used", err == nil && r.Succeeded() && r.Field("totalFlow") == bought &&
		cerr == nil && cost >= 0 && r.Field("flowUnit") == order.FlowUnit, "%s", describe(r, err))
	r, err = s.FlowQuery(ctx, order, "nosuchinst")
	add("flowQuery of an unknown instance refused", err == nil && !r.Succeeded(), "%s", describe(r, err))
}

// costFlow is flowQuery's costFlow, "" without an answer.
func costFlow(r *Response) string {
	if r == nil {
		return ""
	}
	return r.Field("costFlow")
}
