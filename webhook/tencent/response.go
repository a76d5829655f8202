package tencent

// MaxSignIDLength is the longest signId the marketplace accepts.
const MaxSignIDLength = 11

// VerifyResponse answers verifyInterface.
type VerifyResponse struct {
	Echoback string `json:"echoback"`
}

// AppInfo is the buyer-facing addresses of an instance.
type AppInfo struct {
	// Website is the app's address shown to the buyer.
	Website string `json:"website,omitempty"`
	// AuthURL is the free-login address shown to the buyer.
	AuthURL string `json:"authUrl,omitempty"`
}

// InfoRow is one row shown on the instance page in the Tencent console.
type InfoRow struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CreateResponse answers createInstance.
type CreateResponse struct {
	// SignID is the vendor's instance id, at most 11 characters; "0" would mean "call again".
	SignID         string    `json:"signId"`
	AppInfo        *AppInfo  `json:"appInfo,omitempty"`
	AdditionalInfo []InfoRow `json:"additionalInfo,omitempty"`
}

// Result answers every other lifecycle action. Success is a string, "true" or "false", as the
// contract documents it. Message explains a failure (an addition the marketplace ignores).
type Result struct {
	Success string   `json:"success"`
	Message string   `json:"message,omitempty"`
	AppInfo *AppInfo `json:"appInfo,omitempty"`
}

// OK is the success answer of a lifecycle action.
func OK() Result { return Result{Success: "true"} }

// Failed is the failure answer of any action, createInstance included: the marketplace retries.
func Failed(message string) Result { return Result{Success: "false", Message: message} }

// FlowQueryResponse answers flowQuery: the usage bought and used, in flowUnit. The amounts are
// strings, as every value of Tencent's delivery answers is.
type FlowQueryResponse struct {
	Success   string `json:"success"`
	TotalFlow string `json:"totalFlow"`
	CostFlow  string `json:"costFlow"`
	FlowUnit  string `json:"flowUnit"`
}

// FlowSettingResponse answers flowSetting.
type FlowSettingResponse struct {
	Success string `json:"success"`
	Info    string `json:"info"`
}
