package kubectltenant

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// lastCall is the newest history entry of the tenant.
func lastCall(t *testing.T, tn *saasv1alpha1.Tenant) saasv1alpha1.MarketplaceCall {
	t.Helper()
	if len(tn.Status.History) == 0 {
		t.Fatalf("tenant %s has no history", tn.Name)
	}
	return tn.Status.History[len(tn.Status.History)-1]
}

// supportEvents returns the SupportAction Events about the tenant.
func supportEvents(t *testing.T, name string) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(context.Background(), &list, client.InNamespace(metav1.NamespaceDefault)); err != nil {
		t.Fatal(err)
	}
	var events []eventsv1.Event
	for _, ev := range list.Items {
		if ev.Regarding.Kind == "Tenant" && ev.Regarding.Name == name && ev.Reason == saasv1alpha1.EventSupportAction {
			events = append(events, ev)
		}
	}
	return events
}

// assertEvent fails unless the tenant has exactly one SupportAction Event, with this action and note.
func assertEvent(t *testing.T, tn *saasv1alpha1.Tenant, action, note string) {
	t.Helper()
	events := supportEvents(t, tn.Name)
	if len(events) != 1 {
		t.Fatalf("tenant %s has %d SupportAction Events, want 1: %+v", tn.Name, len(events), events)
	}
	ev := events[0]
	if ev.Action != action || ev.Note != note || ev.Type != corev1.EventTypeNormal || ev.ReportingController != "kubectl-tenant" ||
		ev.Regarding.UID != tn.UID || ev.Regarding.APIVersion != "saas.cloudmarket.dev/v1alpha1" || !ev.EventTime.Time.Equal(testNow) {
		t.Errorf("Event %+v, want action %q note %q about tenant %s", ev, action, note, tn.UID)
	}
}

// assertUnchanged fails when the tenant's spec or history differ from before.
func assertUnchanged(t *testing.T, before *saasv1alpha1.Tenant) {
	t.Helper()
	after := getTenantT(t, before.Name)
	if !equality.Semantic.DeepEqual(after.Spec, before.Spec) {
		t.Errorf("tenant %s spec changed:\nbefore %+v\nafter  %+v", before.Name, before.Spec, after.Spec)
	}
	if !equality.Semantic.DeepEqual(after.Status.History, before.Status.History) {
		t.Errorf("tenant %s history changed:\nbefore %+v\nafter  %+v", before.Name, before.Status.History, after.Status.History)
	}
}

func TestSuspend(t *testing.T) {
	createTenant(t, tenantFixture{name: "sus-full", expiresAt: at(testNow.Add(24 * time.Hour)),
		status: saasv1alpha1.TenantStatus{Phase: saasv1alpha1.TenantPhaseActive, URL: "https://sus-full.example.com",
			History: history(saasv1alpha1.MaxHistory)}})

	r := plugin(t, "suspend", "sus-full", "--reason", "abuse report #4711").mustSucceed(t)
	if want := "tenant sus-full suspended by " + supportUser + ": abuse report #4711\n"; r.out != want {
		t.Errorf("suspend printed %q, want %q", r.out, want)
	}
	tn := getTenantT(t, "sus-full")
	if tn.Spec.State != saasv1alpha1.TenantStateSuspended {
		t.Errorf("spec.state = %q, want Suspended", tn.Spec.State)
	}
	want := saasv1alpha1.MarketplaceCall{Action: "support:suspend", Time: metav1.NewTime(testNow),
		Result: "suspended by " + supportUser + ": abuse report #4711"}
	if got := lastCall(t, tn); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("history entry %+v, want %+v", got, want)
	}
	// The history keeps the newest MaxHistory: the oldest call made room.
	if n := len(tn.Status.History); n != saasv1alpha1.MaxHistory || tn.Status.History[0].OrderID != "order-01" {
		t.Errorf("history has %d entries starting with %q, want %d starting with order-01", n, tn.Status.History[0].OrderID,
			saasv1alpha1.MaxHistory)
	}
	// Only the history was written: the rest of the status is as the operator left it.
	if tn.Status.Phase != saasv1alpha1.TenantPhaseActive || tn.Status.URL != "https://sus-full.example.com" {
		t.Errorf("status changed beyond the history: %+v", tn.Status)
	}

	assertEvent(t, tn, "support:suspend", "suspended by "+supportUser+": abuse report #4711")
	if r.errOut != "" {
		t.Errorf("suspend warned: %q", r.errOut)
	}

	// A second suspend changes and records nothing.
	r = plugin(t, "suspend", "sus-full").mustSucceed(t)
	if r.out != "tenant sus-full is already suspended; nothing changed\n" {
		t.Errorf("second suspend printed %q", r.out)
	}
	assertUnchanged(t, tn)
	if n := len(supportEvents(t, "sus-full")); n != 1 {
		t.Errorf("a suspend that changed nothing recorded an Event (%d in all)", n)
	}
}

// TestSuspendWithoutEventRights: a person who may change tenants but not record Events still
// gets the change and the history entry, under their own name, and a warning.
func TestSuspendWithoutEventRights(t *testing.T) {
	createTenant(t, tenantFixture{name: "sus-editor"})
	r := pluginWith(t, editorKubeconfig, nil, "suspend", "sus-editor", "--reason", "test").mustSucceed(t)
	if !strings.HasPrefix(r.errOut, "warning: the change is made and in the tenant's history, but its SupportAction Event could not be recorded:") ||
		!strings.Contains(r.errOut, "forbidden") {
		t.Errorf("stderr %q, want a warning that the Event was forbidden", r.errOut)
	}
	tn := getTenantT(t, "sus-editor")
	if tn.Spec.State != saasv1alpha1.TenantStateSuspended || lastCall(t, tn).Result != "suspended by editor: test" {
		t.Errorf("state %q history %+v", tn.Spec.State, tn.Status.History)
	}
	if n := len(supportEvents(t, "sus-editor")); n != 0 {
		t.Errorf("%d Events recorded for a user who may not", n)
	}
}

func TestSuspendWithoutReasonAndRefusals(t *testing.T) {
	createTenant(t, tenantFixture{name: "sus-plain"})
	plugin(t, "suspend", "sus-plain").mustSucceed(t)
	tn := getTenantT(t, "sus-plain")
	if got := lastCall(t, tn); got.Action != "support:suspend" || got.Result != "suspended by "+supportUser || len(tn.Status.History) != 1 {
		t.Errorf("history %+v", tn.Status.History)
	}

	destroyed := createTenant(t, tenantFixture{name: "sus-destroyed", state: saasv1alpha1.TenantStateDestroyed})
	destroyed = getTenantT(t, destroyed.Name)
	plugin(t, "suspend", "sus-destroyed").mustFail(t, "tenant sus-destroyed is destroyed (spec.state Destroyed); it cannot be suspended")
	assertUnchanged(t, destroyed)

	// A reason too long for the history is refused before anything changes.
	active := getTenantT(t, createTenant(t, tenantFixture{name: "sus-long"}).Name)
	plugin(t, "suspend", "sus-long", "--reason", strings.Repeat("理", 250)).mustFail(t, "shorten --reason")
	assertUnchanged(t, active)
}

func TestResume(t *testing.T) {
	createTenant(t, tenantFixture{name: "res-ok", state: saasv1alpha1.TenantStateSuspended, expiresAt: at(testNow.Add(time.Hour)),
		status: saasv1alpha1.TenantStatus{History: history(1)}})
	r := plugin(t, "resume", "res-ok").mustSucceed(t)
	if want := "tenant res-ok resumed by " + supportUser + "\n"; r.out != want {
		t.Errorf("resume printed %q, want %q", r.out, want)
	}
	tn := getTenantT(t, "res-ok")
	want := saasv1alpha1.MarketplaceCall{Action: "support:resume", Time: metav1.NewTime(testNow), Result: "resumed by " + supportUser}
	if tn.Spec.State != saasv1alpha1.TenantStateActive || len(tn.Status.History) != 2 || !equality.Semantic.DeepEqual(lastCall(t, tn), want) {
		t.Errorf("after resume: state %q, history %+v", tn.Spec.State, tn.Status.History)
	}

	assertEvent(t, tn, "support:resume", "resumed by "+supportUser)

	r = plugin(t, "resume", "res-ok").mustSucceed(t)
	if r.out != "tenant res-ok is already active; nothing changed\n" {
		t.Errorf("second resume printed %q", r.out)
	}
	assertUnchanged(t, tn)

	// No expiry: nothing stops a resume.
	createTenant(t, tenantFixture{name: "res-forever", state: saasv1alpha1.TenantStateSuspended})
	plugin(t, "resume", "res-forever").mustSucceed(t)
	if tn := getTenantT(t, "res-forever"); tn.Spec.State != saasv1alpha1.TenantStateActive {
		t.Errorf("tenant without expiry not resumed: %q", tn.Spec.State)
	}
}

func TestResumeRefused(t *testing.T) {
	expired := testNow.Add(-3 * time.Hour)
	tn := getTenantT(t, createTenant(t, tenantFixture{name: "res-expired", state: saasv1alpha1.TenantStateSuspended,
		expiresAt: &expired}).Name)
	r := plugin(t, "resume", "res-expired").mustFail(t, "tenant res-expired expired at "+expired.Format(time.RFC3339)+
		" (expired 3h ago); extend it first: kubectl tenant extend res-expired --by 7d")
	if r.out != "" {
		t.Errorf("refused resume printed %q", r.out)
	}
	assertUnchanged(t, tn)

	// Expiring exactly now counts as expired.
	tn = getTenantT(t, createTenant(t, tenantFixture{name: "res-now", state: saasv1alpha1.TenantStateSuspended,
		expiresAt: at(testNow)}).Name)
	plugin(t, "resume", "res-now").mustFail(t, "extend it first")
	assertUnchanged(t, tn)

	tn = getTenantT(t, createTenant(t, tenantFixture{name: "res-destroyed", state: saasv1alpha1.TenantStateDestroyed,
		expiresAt: at(testNow.Add(time.Hour))}).Name)
	plugin(t, "resume", "res-destroyed").mustFail(t, "tenant res-destroyed is destroyed (spec.state Destroyed); it cannot be resumed")
	assertUnchanged(t, tn)
}

func TestExtend(t *testing.T) {
	start := time.Date(2027, 1, 10, 8, 0, 0, 0, time.UTC)
	createTenant(t, tenantFixture{name: "ext-days", expiresAt: &start, status: saasv1alpha1.TenantStatus{History: history(1)}})
	r := plugin(t, "extend", "ext-days", "--by", "7d").mustSucceed(t)
	want := time.Date(2027, 1, 17, 8, 0, 0, 0, time.UTC)
	tn := getTenantT(t, "ext-days")
	if !tn.Spec.ExpiresAt.Time.Equal(want) {
		t.Errorf("expiresAt = %s, want %s", tn.Spec.ExpiresAt.UTC(), want)
	}
	wantCall := saasv1alpha1.MarketplaceCall{Action: "support:extend", Time: metav1.NewTime(testNow),
		Result: "extended to 2027-01-17T08:00:00Z (+7d)"}
	if got := lastCall(t, tn); !equality.Semantic.DeepEqual(got, wantCall) || len(tn.Status.History) != 2 {
		t.Errorf("history %+v, want it to end with %+v", tn.Status.History, wantCall)
	}
	if !strings.HasPrefix(r.out, "tenant ext-days extended by 7d to 2027-01-17T08:00:00Z (2027-01-17 16:00:00 Asia/Shanghai)") {
		t.Errorf("extend printed %q", r.out)
	}
	if strings.Contains(r.out, "note:") {
		t.Errorf("extend of an active tenant printed a note: %q", r.out)
	}
	// The history result has a fixed form; the Event also names who extended.
	assertEvent(t, tn, "support:extend", "extended to 2027-01-17T08:00:00Z (+7d) by "+supportUser)

	// Extending again counts from the new expiry; hours are plain hours.
	plugin(t, "extend", "ext-days", "--by", "12h").mustSucceed(t)
	if tn := getTenantT(t, "ext-days"); !tn.Spec.ExpiresAt.Time.Equal(want.Add(12*time.Hour)) || lastCall(t, tn).Result !=
		"extended to 2027-01-17T20:00:00Z (+12h)" {
		t.Errorf("second extend: expiresAt %s, history %+v", tn.Spec.ExpiresAt.UTC(), tn.Status.History)
	}
}

func TestExtendCalendarMonthsInShanghai(t *testing.T) {
	for _, tc := range []struct {
		name, by, timezone string
		from, want         string
	}{
		// 2027-01-31 23:59:59 in Shanghai plus a month is 31 February, normalised to 3 March.
		{"ext-jan31", "1m", "", "2027-01-31T15:59:59Z", "2027-03-03T15:59:59Z"},
		// 1 March 00:00 in Shanghai is still 28 February in UTC: counted in Shanghai the month
		// ends on 1 April 00:00 +08:00; counted in UTC it would end on 28 March.
		{"ext-mar1", "1m", "", "2027-02-28T16:00:00Z", "2027-03-31T16:00:00Z"},
		{"ext-mar1-utc", "1m", "UTC", "2027-02-28T16:00:00Z", "2027-03-28T16:00:00Z"},
		// Leap day plus a year in Shanghai: 29 February 2028 08:00 +08:00 → 1 March 2029.
		{"ext-leap", "1y", "", "2028-02-29T00:00:00Z", "2029-03-01T00:00:00Z"},
		{"ext-12m", "12m", "", "2027-02-28T16:00:00Z", "2028-02-29T16:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, _ := time.Parse(time.RFC3339, tc.from)
			createTenant(t, tenantFixture{name: tc.name, expiresAt: &from})
			args := []string{"extend", tc.name, "--by", tc.by}
			if tc.timezone != "" {
				args = append(args, "--timezone", tc.timezone)
			}
			plugin(t, args...).mustSucceed(t)
			tn := getTenantT(t, tc.name)
			if got := tn.Spec.ExpiresAt.UTC().Format(time.RFC3339); got != tc.want {
				t.Errorf("%s +%s = %s, want %s", tc.from, tc.by, got, tc.want)
			}
			if got, want := lastCall(t, tn).Result, "extended to "+tc.want+" (+"+tc.by+")"; got != want {
				t.Errorf("history result %q, want %q", got, want)
			}
		})
	}
}

func TestExtendSuspendedOrStillExpired(t *testing.T) {
	createTenant(t, tenantFixture{name: "ext-suspended", state: saasv1alpha1.TenantStateSuspended,
		expiresAt: at(testNow.Add(-time.Hour))})
	r := plugin(t, "extend", "ext-suspended", "--by", "7d").mustSucceed(t)
	if !strings.Contains(r.out, "note: tenant ext-suspended stays suspended until you run: kubectl tenant resume ext-suspended\n") {
		t.Errorf("extend of a suspended tenant printed no hint: %q", r.out)
	}
	if tn := getTenantT(t, "ext-suspended"); tn.Spec.State != saasv1alpha1.TenantStateSuspended ||
		!tn.Spec.ExpiresAt.Time.Equal(testNow.Add(7*24*time.Hour-time.Hour)) {
		t.Errorf("after extend: state %q expiresAt %s", tn.Spec.State, tn.Spec.ExpiresAt)
	}

	createTenant(t, tenantFixture{name: "ext-long-expired", expiresAt: at(testNow.Add(-30 * 24 * time.Hour)),
		status: saasv1alpha1.TenantStatus{Phase: saasv1alpha1.TenantPhaseSuspended}})
	r = plugin(t, "extend", "ext-long-expired", "--by", "7d").mustSucceed(t)
	if !strings.Contains(r.out, "note: the new expiry is still in the past\n") || strings.Contains(r.out, "resumes") {
		t.Errorf("extend that stays in the past: %q", r.out)
	}

	// Suspended by the clock alone (spec.state Active): the operator lifts it once the expiry lies ahead.
	createTenant(t, tenantFixture{name: "ext-time-suspended", expiresAt: at(testNow.Add(-time.Hour)),
		status: saasv1alpha1.TenantStatus{Phase: saasv1alpha1.TenantPhaseSuspended}})
	r = plugin(t, "extend", "ext-time-suspended", "--by", "1d").mustSucceed(t)
	if !strings.Contains(r.out, "note: tenant ext-time-suspended was suspended because it expired; the operator resumes it now that its expiry lies ahead\n") {
		t.Errorf("extend of a tenant suspended by its expiry: %q", r.out)
	}
}

func TestExtendRefused(t *testing.T) {
	tn := getTenantT(t, createTenant(t, tenantFixture{name: "ext-refuse", expiresAt: at(testNow.Add(time.Hour))}).Name)
	for _, tc := range []struct {
		by, want string
	}{
		{"30min", `--by: invalid duration "30min": unknown unit "min"`},
		{"7D", `unknown unit "D"`},
		{"7", "the unit is missing"},
		{"d", `invalid duration "d"`},
		{"0d", "the count must be between 1 and 1000"},
		{"1001d", "the count must be between 1 and 1000"},
		{"99999999999999999999d", "the count must be between 1 and 1000"},
		{"-1d", `invalid duration "-1d"`},
		{"1.5d", `invalid duration "1.5d"`},
		{"", "--by is required"},
	} {
		plugin(t, "extend", "ext-refuse", "--by", tc.by).mustFail(t, tc.want)
	}
	plugin(t, "extend", "ext-refuse").mustFail(t, "--by is required")
	plugin(t, "extend", "ext-refuse", "--by", "1m", "--timezone", "Mars/Olympus").mustFail(t, `--timezone: unknown time zone "Mars/Olympus"`)
	assertUnchanged(t, tn)

	tn = getTenantT(t, createTenant(t, tenantFixture{name: "ext-forever"}).Name)
	plugin(t, "extend", "ext-forever", "--by", "7d").mustFail(t, "tenant ext-forever has no expiry")
	assertUnchanged(t, tn)

	tn = getTenantT(t, createTenant(t, tenantFixture{name: "ext-destroyed", state: saasv1alpha1.TenantStateDestroyed,
		expiresAt: at(testNow.Add(time.Hour))}).Name)
	plugin(t, "extend", "ext-destroyed", "--by", "7d").mustFail(t, "tenant ext-destroyed is destroyed (spec.state Destroyed); it cannot be extended")
	assertUnchanged(t, tn)
}

// TestExtendConflicts makes another writer change the tenant just before each of the plugin's
// writes: the spec update is retried from a fresh read (so the extension counts from the expiry
// the other writer set), and the history patch carries the resourceVersion, so the other writer's
// history entry survives.
func TestExtendConflicts(t *testing.T) {
	start := time.Date(2027, 1, 10, 8, 0, 0, 0, time.UTC)
	renewed := time.Date(2027, 2, 10, 8, 0, 0, 0, time.UTC)
	createTenant(t, tenantFixture{name: "ext-race", expiresAt: &start})

	var updates, patches atomic.Int32
	wrap := func(c client.WithWatch) client.Client {
		return interceptor.NewClient(c, interceptor.Funcs{
			Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				if updates.Add(1) == 1 { // a marketplace renewal lands first
					other := getTenantT(t, obj.GetName())
					other.Spec.ExpiresAt = &metav1.Time{Time: renewed}
					if err := k8s.Update(ctx, other); err != nil {
						t.Errorf("concurrent renewal: %v", err)
					}
				}
				return c.Update(ctx, obj, opts...)
			},
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch,
				opts ...client.SubResourcePatchOption) error {
				if patches.Add(1) == 1 { // the front door records the renewal first
					other := getTenantT(t, obj.GetName())
					other.Status.AppendHistory(saasv1alpha1.MarketplaceCall{Action: "renewInstance", OrderID: "order-renew",
						Time: metav1.NewTime(testNow), Result: "renewed to " + renewed.Format(time.RFC3339)})
					if err := k8s.Status().Update(ctx, other); err != nil {
						t.Errorf("concurrent history write: %v", err)
					}
				}
				return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			},
		})
	}
	pluginWith(t, kubeconfig, wrap, "extend", "ext-race", "--by", "7d").mustSucceed(t)

	tn := getTenantT(t, "ext-race")
	if want := renewed.AddDate(0, 0, 7); !tn.Spec.ExpiresAt.Time.Equal(want) {
		t.Errorf("expiresAt = %s, want %s (7d after the concurrent renewal)", tn.Spec.ExpiresAt.UTC(), want)
	}
	if updates.Load() != 2 || patches.Load() != 2 {
		t.Errorf("%d updates and %d patches, want 2 of each (one conflict each)", updates.Load(), patches.Load())
	}
	var actions []string
	for _, h := range tn.Status.History {
		actions = append(actions, h.Action)
	}
	if strings.Join(actions, ",") != "renewInstance,support:extend" {
		t.Errorf("history actions %q, want the concurrent renewal and then support:extend", actions)
	}
}

func TestUnknownTenant(t *testing.T) {
	for _, args := range [][]string{
		{"describe", "nope"},
		{"history", "nope"},
		{"login-url", "nope"},
		{"suspend", "nope"},
		{"resume", "nope"},
		{"extend", "nope", "--by", "7d"},
		{"rotate-login", "nope"},
	} {
		r := plugin(t, args...)
		if r.err == nil || r.err.Error() != `tenant "nope" not found` {
			t.Errorf("%q: error %v, want tenant \"nope\" not found", args, r.err)
		}
	}
}
