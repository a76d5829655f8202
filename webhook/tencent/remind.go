package tencent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"

	"github.com/cloudmarket-dev/tenant-operator/internal/redeem"
	"github.com/cloudmarket-dev/tenant-operator/webhook/marketplace"
)

// ProviderUinKey is the credentials Secret's key holding the vendor's Tencent Cloud account id
// (ProviderUin of FlowProductRemind): not a secret, but of the same account as the Market API keys.
const ProviderUinKey = "providerUin"

// DefaultMarketAPI3Endpoint is Tencent Cloud Market API 3.0.
const DefaultMarketAPI3Endpoint = "market.tencentcloudapi.com"

// Reminder calls FlowProductRemind (Market API 3.0, service market, version 2019-10-10), signed
// TC3-HMAC-SHA256 by the Tencent Cloud SDK's common client with the Product's Market API keys.
type Reminder struct {
	// Endpoint is the API host, optionally with a scheme (http://127.0.0.1:8090 for the
	// simulator); DefaultMarketAPI3Endpoint when empty.
	Endpoint string
	// Timeout bounds one call (10s when 0).
	Timeout time.Duration
}

// Remind tells Tencent that the tenant's usage left fell to its buyer's threshold.
func (c *Reminder) Remind(ctx context.Context, a marketplace.UsageAlert) (string, error) {
	id := strings.TrimSpace(string(a.Secret.Data[redeem.SecretIDKey]))
	key := strings.TrimSpace(string(a.Secret.Data[redeem.SecretKeyKey]))
	uin := strings.TrimSpace(string(a.Secret.Data[ProviderUinKey]))
	if id == "" || key == "" || uin == "" {
		return "", &marketplace.RemindRefused{Code: "CredentialsMissing",
			Message: fmt.Sprintf("the credentials Secret lacks %s, %s or %s", redeem.SecretIDKey, redeem.SecretKeyKey, ProviderUinKey)}
	}
	if a.Tenant.Spec.Marketplace.ResourceID == "" {
		return "", &marketplace.RemindRefused{Code: "NoResourceId",
			Message: "the instance has no resourceId (its createInstance, of an older revision, carried none): FlowProductRemind needs it"}
	}
	endpoint := c.Endpoint
	if endpoint == "" {
		endpoint = DefaultMarketAPI3Endpoint
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	prof := profile.NewClientProfile()
	prof.HttpProfile.Endpoint, prof.HttpProfile.Scheme = marketplace.SplitEndpoint(endpoint)
	prof.HttpProfile.ReqTimeout = max(int(timeout/time.Second), 1)
	prof.NetworkFailureMaxRetries = 0 // the controller retries, with backoff, across restarts
	client := common.NewCommonClient(common.NewCredential(id, key), "", prof)
	req := tchttp.NewCommonRequest("market", "2019-10-10", "FlowProductRemind")
	req.SetContext(ctx)
	if err := req.SetActionParameters(map[string]any{
		"ProviderUin": uin, "SignId": a.Tenant.Name, "ResourceId": a.Tenant.Spec.Marketplace.ResourceID,
		"TotalFlow": strconv.FormatInt(a.Total, 10), "LeftFlow": strconv.FormatInt(a.Left, 10), "FlowUnit": a.Unit,
	}); err != nil {
		return "", err
	}
	resp := tchttp.NewCommonResponse()
	if err := client.Send(req, resp); err != nil {
		var sdkErr *tcerr.TencentCloudSDKError
		if errors.As(err, &sdkErr) && finalRemindError(sdkErr.Code) {
			return "", &marketplace.RemindRefused{Code: sdkErr.Code, Message: sdkErr.Message}
		}
		return "", fmt.Errorf("FlowProductRemind: %w", scrub(err, id, key))
	}
	var body struct {
		Response struct {
			Success   bool   `json:"Success"`
			FlowID    string `json:"FlowId"`
			Info      string `json:"Info"`
			RequestID string `json:"RequestId"`
		}
	}
	if err := json.Unmarshal(resp.GetBody(), &body); err != nil {
		return "", fmt.Errorf("decode FlowProductRemind answer: %w", err)
	}
	if !body.Response.Success {
		return "", &marketplace.RemindRefused{Code: "Success=false", Message: fmt.Sprintf("%s (request %s)", body.Response.Info, body.Response.RequestID)}
	}
	return body.Response.FlowID, nil
}

// finalRemindError is true for API errors a retry will not change: authentication, parameters,
// an unknown instance, a forbidden operation. Limits and service errors are retried.
func finalRemindError(code string) bool {
	for _, prefix := range []string{"AuthFailure", "InvalidParameter", "MissingParameter", "UnknownParameter",
		"ResourceNotFound", "UnauthorizedOperation", "UnsupportedOperation", "FailedOperation"} {
		if strings.HasPrefix(code, prefix) {
			return true
		}
	}
	return false
}

// scrub keeps the keys out of an error's text (the SDK's errors may quote a request).
func scrub(err error, secrets ...string) error {
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}
