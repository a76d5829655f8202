package tencent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/internal/redeem"
	"github.com/cloudmarket-dev/tenant-operator/webhook/marketplace"
)

// Readiness tells the Product controller what a Tencent Product needs and checks its delivery
// URL as the console does before it lets 自动交付 be chosen.
var Readiness = marketplace.Readiness{
	DeliveryPath: func(p *saasv1alpha1.Product) string { return "/tencent/" + p.Name },
	Credentials:  credentialProblems,
	Probe:        probe,
}

// credentialProblems: both delivery Tokens (the console's debugger signs with the debug Token,
// and Tencent requires its checks before a listing is published), the Open Platform keys when
// login is OAuth, the Market API keys when redemption is on.
func credentialProblems(p *saasv1alpha1.Product, s *corev1.Secret) []marketplace.CredentialProblem {
	out := marketplace.Require(s, "the production Token Tencent signs delivery calls with (开发配置 › SaaS 接入设置)", DeliveryTokenKey)
	out = append(out, marketplace.Require(s, "the Token of the console's online debugger (在线接口调试), whose checks Tencent requires before a listing is published", DeliveryDebugTokenKey)...)
	keys := []string{DeliveryTokenKey, DeliveryDebugTokenKey}
	if p.Spec.Login != nil && p.Spec.Login.Mode == saasv1alpha1.LoginModeOAuth {
		oauth := []string{login.AppIDKey, login.SecretIDKey, login.SecretKeyKey, login.EncryKeyKey}
		out = append(out, marketplace.Require(s, "login mode OAuth signs buyers in with the Open Platform application", oauth...)...)
		keys = append(keys, oauth...)
	}
	if p.Spec.Redemption != nil && p.Spec.Redemption.Enabled {
		market := []string{redeem.SecretIDKey, redeem.SecretKeyKey}
		out = append(out, marketplace.Require(s, "redemption checks and consumes codes with the Market API", market...)...)
		keys = append(keys, market...)
	}
	if p.Spec.Metering != nil {
		metered := []string{redeem.SecretIDKey, redeem.SecretKeyKey, ProviderUinKey}
		out = append(out, marketplace.Require(s, "a metered product tells Tencent of buyers' usage alerts (FlowProductRemind) with the Market API", metered...)...)
		keys = append(keys, metered...)
	}
	return append(out, marketplace.WellFormed(s, slices.Compact(slices.Sorted(slices.Values(keys)))...)...)
}

// maxProbeAnswer bounds the answer read from a delivery URL.
const maxProbeAnswer = 64 << 10

// probe sends a verifyInterface signed with each configured Token, as the console's check
// does, and requires each echo back.
func probe(ctx context.Context, c *http.Client, target string, _ *saasv1alpha1.Product, s *corev1.Secret) error {
	for _, tk := range []struct{ key, name string }{{DeliveryTokenKey, "the production Token"}, {DeliveryDebugTokenKey, "the debug Token"}} {
		token := string(s.Data[tk.key])
		if token == "" {
			continue
		}
		if err := verifyOnce(ctx, c, target, token, tk.name+" ("+tk.key+")"); err != nil {
			return err
		}
	}
	return nil
}

func verifyOnce(ctx context.Context, c *http.Client, target, token, which string) error {
	u, err := url.Parse(target)
	if err != nil {
		return &marketplace.ProbeError{Reason: saasv1alpha1.NotHTTPS443Reason, Message: err.Error()}
	}
	eventID, err := rand.Int(rand.Reader, big.NewInt(1<<31))
	if err != nil {
		return err
	}
	echo := make([]byte, 12)
	if _, err := rand.Read(echo); err != nil {
		return err
	}
	echoback := "check-" + hex.EncodeToString(echo)
	now := time.Now().Unix()
	q := url.Values{"signature": {Sign(token, now, eventID.Int64())}, "timestamp": {strconv.FormatInt(now, 10)}, "eventId": {eventID.String()}}
	u.RawQuery = q.Encode()
	body, _ := json.Marshal(map[string]string{"action": string(ActionVerify), "echoback": echoback})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return marketplace.TransportError(u.Hostname(), err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxProbeAnswer))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return &marketplace.ProbeError{Reason: saasv1alpha1.TokenRefusedReason, Message: fmt.Sprintf(
			"a verifyInterface signed with %s was refused (HTTP %d): the URL does not lead to this Product's front door, or that front door holds other Tokens", which, resp.StatusCode)}
	case resp.StatusCode != http.StatusOK:
		return &marketplace.ProbeError{Reason: saasv1alpha1.BadAnswerReason, Message: fmt.Sprintf(
			"a verifyInterface signed with %s was answered HTTP %d, not 200: the console's check needs 200 and the echo", which, resp.StatusCode)}
	}
	var answer VerifyResponse
	if err := json.Unmarshal(data, &answer); err != nil || answer.Echoback != echoback {
		return &marketplace.ProbeError{Reason: saasv1alpha1.BadAnswerReason, Message: fmt.Sprintf(
			"a verifyInterface signed with %s was answered 200 without its echoback: something other than the front door answers the URL", which)}
	}
	return nil
}
