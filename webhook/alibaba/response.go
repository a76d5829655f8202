package alibaba

// AppInfo is what the marketplace shows the buyer of an instance (createInstance's appInfo).
type AppInfo struct {
	FrontEndURL string `json:"frontEndUrl,omitempty"`
	AdminURL    string `json:"adminUrl,omitempty"`
	// AuthURL is the free-login address: the marketplace appends action=verify, instanceId,
	// timeStamp and token to it.
	AuthURL string `json:"authUrl,omitempty"`
}

// CreateAnswer answers createInstance. InstanceID "0" asks the marketplace to call again later.
type CreateAnswer struct {
	InstanceID string   `json:"instanceId"`
	AppInfo    *AppInfo `json:"appInfo,omitempty"`
	// Success and Message are set only on a failure (with InstanceID "0").
	Success *bool  `json:"success,omitempty"`
	Message string `json:"message,omitempty"`
}

// RetryLater is the instanceId that asks the marketplace to call createInstance again.
const RetryLater = "0"

// Result answers every other action: {"success":true}, or false with a message.
type Result struct {
	Success bool   `json:"success"`
	Message string `json:"message,omitempty"`
}

// CreateFailed is a failed createInstance's answer.
func CreateFailed(msg string) CreateAnswer {
	f := false
	return CreateAnswer{InstanceID: RetryLater, Success: &f, Message: msg}
}
