package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"

	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/webhook/marketplace"
)

// DefaultAuthorizeURL is Tencent Cloud Open Platform's authorize page.
const DefaultAuthorizeURL = "https://www.cloud.tencent.com/open/authorize"

// DefaultOpenAPIEndpoint is the Tencent Cloud API 3.0 endpoint of the Open Platform.
const DefaultOpenAPIEndpoint = "open.tencentcloudapi.com"

// userToken is what GetUserAccessToken answers that the front door uses.
type userToken struct {
	AppID      string `json:"AppId"`
	UserOpenID string `json:"UserOpenId"`
	RequestID  string `json:"RequestId"`
}

// errCodeRefused means Tencent refused the code (unknown, expired or used): the buyer's fault
// or a replay, answered 400. Other exchange errors are Tencent's or the network's, answered 502.
type errCodeRefused struct{ code, message, requestID string }

func (e *errCodeRefused) Error() string {
	return fmt.Sprintf("Tencent refused the login code: %s (%s, request %s)", e.code, e.message, e.requestID)
}

// openPlatformClient exchanges OAuth codes with Tencent Cloud API 3.0, signed TC3-HMAC-SHA256 by
// the Tencent Cloud SDK's common package.
type openPlatformClient struct {
	// endpoint is the API host, optionally with a scheme: open.tencentcloudapi.com, or
	// http://127.0.0.1:8090 for the simulator.
	endpoint string
	timeout  time.Duration
}

// exchange calls GetUserAccessToken (version 2018-12-25) with the code.
func (c *openPlatformClient) exchange(ctx context.Context, op login.OpenPlatform, code string) (*userToken, error) {
	prof := profile.NewClientProfile()
	prof.HttpProfile.Endpoint, prof.HttpProfile.Scheme = marketplace.SplitEndpoint(c.endpoint)
	prof.HttpProfile.ReqTimeout = max(int(c.timeout/time.Second), 1)
	prof.NetworkFailureMaxRetries = 0
	client := common.NewCommonClient(common.NewCredential(op.SecretID, op.SecretKey), "", prof)
	req := tchttp.NewCommonRequest("open", "2018-12-25", "GetUserAccessToken")
	req.SetContext(ctx)
	if err := req.SetActionParameters(map[string]any{"UserAuthCode": code}); err != nil {
		return nil, err
	}
	resp := tchttp.NewCommonResponse()
	if err := client.Send(req, resp); err != nil {
		var sdkErr *tcerr.TencentCloudSDKError
		if errors.As(err, &sdkErr) && isCodeError(sdkErr.Code) {
			return nil, &errCodeRefused{code: sdkErr.Code, message: sdkErr.Message, requestID: sdkErr.RequestId}
		}
		return nil, fmt.Errorf("GetUserAccessToken: %w", err)
	}
	var body struct{ Response userToken }
	if err := json.Unmarshal(resp.GetBody(), &body); err != nil {
		return nil, fmt.Errorf("decode GetUserAccessToken answer: %w", err)
	}
	if body.Response.UserOpenID == "" {
		return nil, fmt.Errorf("GetUserAccessToken answered no UserOpenId (request %s)", body.Response.RequestID)
	}
	return &body.Response, nil
}

// isCodeError is true for API errors about the parameters (the code), as opposed to
// authentication or service failures.
func isCodeError(code string) bool {
	return strings.HasPrefix(code, "InvalidParameter") || strings.HasPrefix(code, "MissingParameter") ||
		strings.HasPrefix(code, "FailedOperation")
}
