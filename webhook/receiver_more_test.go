package webhook_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/webhook"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

// A derived name already taken by another order's Tenant is never merged: the order gets the next
// candidate name, the same one on every delivery.
func TestNameCollisionIsResolvedDeterministically(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	orderID := uniqueOrder(t)
	origin := intake.Origin("Tencent", productID, orderID)
	squatter := &saasv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: intake.TenantName(origin, 0),
			Annotations: map[string]string{saasv1alpha1.OriginAnnotation: "tencent/" + productID + "/another-order"}},
		Spec: saasv1alpha1.TenantSpec{Product: productName, Plan: "基础版"},
	}
	g.Expect(k8s.Create(ctx, squatter)).To(Succeed())

	order := marketsim.Order{ID: orderID, AccountID: "1", Spec: "高级版", TimeSpan: 1, TimeUnit: "m",
		Contact: map[string]string{"email": "buyer@example.com"}}
	for i := 0; i < 2; i++ {
		r, err := newSim(token).Create(ctx, order)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(r.Field("signId")).To(Equal(intake.TenantName(origin, 1)), string(r.Body))
	}
	g.Expect(getTenant(t, squatter.Name).Spec.Plan).To(Equal("基础版"), "the other order's tenant is untouched")
	mine := getTenant(t, intake.TenantName(origin, 1))
	g.Expect(mine.Annotations).To(HaveKeyWithValue(saasv1alpha1.OriginAnnotation, origin))

	// The buyer's contact Secret is named after the order, so it can never be the other tenant's.
	secret := &corev1.Secret{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: mine.Spec.Buyer.ContactSecretName}, secret)).To(Succeed())
	g.Expect(secret.Annotations).To(HaveKeyWithValue(saasv1alpha1.OriginAnnotation, origin))
	g.Expect(secret.Data).To(HaveKeyWithValue("email", []byte("buyer@example.com")))
	g.Expect(squatter.Spec.Buyer.ContactSecretName).NotTo(Equal(secret.Name))
}

func TestMeteredActionsAreRefusedClearly(t *testing.T) {
	g := NewWithT(t)
	sim := newSim(token)
	for _, action := range []string{"flowQuery", "flowSetting"} {
		r, err := sim.Send(context.Background(), []byte(`{"action":"`+action+`","signId":"t1","requestId":"r"}`), sim.NewSigned(time.Now()))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(r.Status).To(Equal(200))
		g.Expect(r.Field("success")).To(Equal("false"))
		g.Expect(r.Field("message")).To(ContainSubstring("metered"))
	}
}

func TestCallbackMetrics(t *testing.T) {
	g := NewWithT(t)
	count := func(action, result string) float64 {
		return counterValue("tenant_operator_callbacks_total", map[string]string{"marketplace": "Tencent", "action": action, "result": result})
	}
	ok, unauthorized := count("verifyInterface", "success"), count("unknown", "unauthorized")
	_, _, err := newSim(token).Verify(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	_, _, err = newSim("wrong").Verify(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(count("verifyInterface", "success")).To(Equal(ok + 1))
	g.Expect(count("unknown", "unauthorized")).To(Equal(unauthorized + 1))
	n, err := testutil.GatherAndCount(ctrlmetrics.Registry, "tenant_operator_callback_duration_seconds")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(BeNumerically(">", 0))
}

// The front door can serve TLS itself, from certificate files it reloads.
func TestServesTLSFromFiles(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	pool := writeSelfSigned(t, certFile, keyFile)
	addr, err := freeAddr()
	g.Expect(err).NotTo(HaveOccurred())

	opts := operator.DefaultOptions().FrontDoor
	opts.Addr, opts.CertFile, opts.KeyFile, opts.Namespace = addr, certFile, keyFile, operatorNamespace
	srv := webhook.NewServer(opts, webhook.Dependencies{Client: k8s, APIReader: k8s, Recorder: &events.FakeRecorder{}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	defer func() { cancel(); g.Expect(<-done).To(Succeed()) }()

	sim := &marketsim.Sim{URL: "https://" + addr + "/tencent/" + productName, Token: token, ProductID: productID,
		HTTP: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}}
	g.Eventually(func() int {
		r, _, err := sim.Verify(context.Background())
		if err != nil {
			return 0
		}
		return r.Status
	}, timeout, interval).Should(Equal(200))
}

func writeSelfSigned(t *testing.T, certFile, keyFile string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// Tokens and buyers' contact details never reach a log line (at any level), an Event, or a
// Tenant. test/security's TestNoSecretsLeak extends this to a whole lifecycle run and every
// credential in play (Open Platform and Market API keys, OAuth codes and tokens, link secrets,
// login tokens and keys, redemption codes), Products and ConfigMaps too.
func TestNoSecretsInLogsOrEvents(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	contact := map[string]string{"name": "李四-secret", "cellnumber": "13912345678", "email": "lisi-secret@example.com"}
	sim := newSim(token)
	r, err := sim.Create(ctx, marketsim.Order{ID: uniqueOrder(t), AccountID: "1", Spec: "基础版", TimeSpan: 1, TimeUnit: "m", Contact: contact})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	_, _, err = newSim("a-wrong-token-value").Verify(ctx) // a failure path logs too
	g.Expect(err).NotTo(HaveOccurred())
	signID := r.Field("signId")
	g.Eventually(func() []saasv1alpha1.MarketplaceCall { return getTenant(t, signID).Status.History }, timeout, interval).ShouldNot(BeEmpty())

	var eventList eventsv1.EventList
	g.Expect(k8s.List(ctx, &eventList)).To(Succeed())
	events, err := json.Marshal(eventList)
	g.Expect(err).NotTo(HaveOccurred())
	tenants := &saasv1alpha1.TenantList{}
	g.Expect(k8s.List(ctx, tenants)).To(Succeed())
	tenantsJSON, err := json.Marshal(tenants)
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(logs.String()).To(ContainSubstring(signID), "the recorder sees the front door's log")
	for where, text := range map[string]string{"logs": logs.String(), "events": string(events), "tenants": string(tenantsJSON)} {
		for _, secret := range []string{token, debugToken, "a-wrong-token-value", contact["name"], contact["cellnumber"], contact["email"]} {
			g.Expect(text).NotTo(ContainSubstring(secret), "%q found in %s", secret, where)
		}
	}
}
