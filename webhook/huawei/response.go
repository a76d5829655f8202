package huawei

import "github.com/cloudmarket-dev/tenant-operator/webhook/intake"

// Result codes of the v2 interface.
const (
	CodeOK            = "000000"
	CodeAuthFailed    = "000001"
	CodeBadParams     = "000002"
	CodeNoInstance    = "000003"
	CodeProcessing    = "000004"
	CodeOther         = "000005"
	defaultSuccessMsg = "success."
)

// Answer is every activity's answer; instanceId for newInstance, info for queryInstance.
type Answer struct {
	ResultCode string         `json:"resultCode"`
	ResultMsg  string         `json:"resultMsg,omitempty"`
	InstanceID string         `json:"instanceId,omitempty"`
	Info       []InstanceInfo `json:"info,omitempty"`
}

// InstanceInfo is one instance in queryInstance's answer.
type InstanceInfo struct {
	InstanceID string  `json:"instanceId"`
	AppInfo    AppInfo `json:"appInfo"`
}

// AppInfo is what KooGallery shows the buyer: the front-end and admin addresses, and (when the
// product has them) the admin account and its initial password, plain in v2.
type AppInfo struct {
	FrontEndURL string `json:"frontEndUrl,omitempty"`
	AdminURL    string `json:"adminUrl,omitempty"`
	UserName    string `json:"userName,omitempty"`
	Password    string `json:"password,omitempty"`
	Memo        string `json:"memo,omitempty"`
}

// OK is a success.
func OK() Answer { return Answer{ResultCode: CodeOK, ResultMsg: defaultSuccessMsg} }

// Failed is a refusal with a code and a message (at most 255 characters).
func Failed(code, msg string) Answer {
	return Answer{ResultCode: code, ResultMsg: intake.Truncate(msg, 255)}
}
