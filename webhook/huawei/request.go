package huawei

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

// Activity is a v2 call's action.
type Activity string

// The v2 activities of a SaaS product.
const (
	ActivityNew     Activity = "newInstance"
	ActivityRefresh Activity = "refreshInstance"
	ActivityUpgrade Activity = "upgradeInstance"
	ActivityStatus  Activity = "updateInstanceStatus"
	ActivityRelease Activity = "releaseInstance"
	ActivityQuery   Activity = "queryInstance"
)

// Activities are the activities the adapter serves (a bounded metric label).
var Activities = []Activity{ActivityNew, ActivityRefresh, ActivityUpgrade, ActivityStatus, ActivityRelease, ActivityQuery}

// Scenes of refreshInstance.
const (
	SceneTrialToFormal     = "TRIAL_TO_FORMAL"
	SceneRenewal           = "RENEWAL"
	SceneUnsubscribeRenew  = "UNSUBSCRIBE_RENEWAL_PERIOD"
	SceneRenewalChange     = "RENEWAL_CHANGE"
	StatusFreeze           = "FREEZE"
	StatusUnfreeze         = "UNFREEZE"
	maxField               = 64
	maxQueryInstanceIDList = 100
)

// Request is one v2 call, parsed.
type Request struct {
	Activity    Activity
	OrderID     string
	OrderLineID string
	// BusinessID differs on every resend of one newInstance.
	BusinessID string
	// Test is testFlag=1: a call from KooGallery's debugging.
	Test       bool
	InstanceID string
	// InstanceIDs are queryInstance's instanceId, a comma-separated list of at most 100.
	InstanceIDs []string
	Scene       string
	ProductID   string
	// ExpireTime is refreshInstance's new expiry (UTC), zero when not sent.
	ExpireTime time.Time
	// Status is updateInstanceStatus's FREEZE or UNFREEZE.
	Status string
}

// Parse reads a call's body.
func Parse(body []byte) (*Request, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil {
		return nil, fmt.Errorf("body is not a JSON object: %w", err)
	}
	str := func(name string) (string, error) {
		switch v := fields[name].(type) {
		case nil:
			return "", nil
		case string:
			if !utf8.ValidString(v) {
				return "", fmt.Errorf("%s is not UTF-8", name)
			}
			return v, nil
		case json.Number:
			return v.String(), nil
		}
		return "", fmt.Errorf("%s is not a string", name)
	}
	r := &Request{}
	var err error
	get := func(name string, dst *string, max int) {
		if err != nil {
			return
		}
		if *dst, err = str(name); err == nil && len(*dst) > max {
			err = fmt.Errorf("%s is longer than %d characters", name, max)
		}
	}
	var activity, testFlag, instanceID, expire string
	get("activity", &activity, maxField)
	get("orderId", &r.OrderID, maxField)
	get("orderLineId", &r.OrderLineID, maxField)
	get("businessId", &r.BusinessID, maxField)
	get("testFlag", &testFlag, 8)
	get("instanceId", &instanceID, maxQueryInstanceIDList*(maxField+1))
	get("scene", &r.Scene, maxField)
	get("productId", &r.ProductID, maxField)
	get("expireTime", &expire, 32)
	get("status", &r.Status, maxField)
	if err != nil {
		return nil, err
	}
	r.Activity, r.Test = Activity(activity), testFlag == "1"
	if r.Activity == "" {
		return nil, fmt.Errorf("activity is missing")
	}
	if r.Activity == ActivityQuery {
		for _, id := range strings.Split(instanceID, ",") {
			if id = strings.TrimSpace(id); id != "" {
				r.InstanceIDs = append(r.InstanceIDs, id)
			}
		}
		if len(r.InstanceIDs) > maxQueryInstanceIDList {
			return nil, fmt.Errorf("%d instanceIds, more than %d", len(r.InstanceIDs), maxQueryInstanceIDList)
		}
	} else if len(instanceID) > maxField {
		return nil, fmt.Errorf("instanceId is longer than %d characters", maxField)
	} else {
		r.InstanceID = instanceID
	}
	if r.ExpireTime, err = ParseTime(expire); err != nil {
		return nil, fmt.Errorf("expireTime: %w", err)
	}
	return r, nil
}

// ParseTime reads KooGallery's times: yyyyMMddHHmmss in UTC, or the 17-digit form with
// milliseconds its example shows. "" is the zero time.
func ParseTime(v string) (time.Time, error) {
	switch len(v) {
	case 0:
		return time.Time{}, nil
	case 14:
		return time.ParseInLocation("20060102150405", v, time.UTC)
	case 17:
		return time.ParseInLocation("20060102150405.000", v[:14]+"."+v[14:], time.UTC)
	}
	return time.Time{}, fmt.Errorf("%q is not yyyyMMddHHmmss", intake.Truncate(v, 32))
}
