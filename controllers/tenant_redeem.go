package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/credentials"
	"github.com/cloudmarket-dev/tenant-operator/internal/redeem"
	"github.com/cloudmarket-dev/tenant-operator/internal/voucher"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

// reconcileRedeeming finishes a redemption the front door started but could not complete (the
// voucher API failed, or the operator restarted between writing the tenant and consuming its
// code). Nothing is provisioned before the code is consumed. Failures are retried with the
// controller's backoff.
func (r *TenantReconciler) reconcileRedeeming(ctx context.Context, s *tenantScope) (ctrl.Result, error) {
	if r.Redeemer == nil {
		return ctrl.Result{}, errors.New("redemption is not configured in this operator")
	}
	if s.product == nil {
		return ctrl.Result{}, nil // the Product watch brings the tenant back
	}
	secret, err := credentials.Secret(ctx, r.Client, r.Redeemer.Namespace, s.product)
	if err != nil {
		return ctrl.Result{}, err
	}
	creds, ok := redeem.CredentialsFrom(secret)
	if !ok {
		s.redeemMessage = "the Product's credentials Secret has no Market API keys (" + redeem.SecretIDKey + ", " + redeem.SecretKeyKey + ")"
		return ctrl.Result{}, nil // the Secret watch brings the tenant back
	}
	err = r.Redeemer.Complete(ctx, s.tenant.DeepCopy(), s.product, creds)
	switch {
	case errors.Is(err, redeem.ErrRefunded):
		// Refunded before it was consumed: nothing was provisioned; the tenant is closed.
		r.Recorder.Eventf(s.tenant, nil, corev1.EventTypeWarning, saasv1alpha1.EventRedemptionRefunded, "Redeem",
			"The code was refunded before it could be consumed; the tenant is destroyed")
		w := &intake.Writer{Client: r.Client, APIReader: r.APIReader}
		_, _, _, err := w.Change(ctx, s.tenant.Name, "", &intake.Intent{Kind: intake.Destroy, Cause: intake.CauseRefunded,
			Source: intake.Source{Action: "redeem"}}, r.Clock.Now(), nil)
		return ctrl.Result{}, err
	case err != nil:
		// The status gets a fixed text by kind of failure, never the error: whoever can read
		// Tenants need not learn anything of the Market API's request. The error itself (scrubbed
		// of the code and the keys by internal/voucher) goes to the log with the retry.
		s.redeemMessage = redeemWaitMessage(s, err)
		return ctrl.Result{}, fmt.Errorf("complete redemption: %w", err)
	}
	r.Recorder.Eventf(s.tenant, nil, corev1.EventTypeNormal, saasv1alpha1.EventRedeemed, "Redeem", "The code was consumed; the tenant is provisioned")
	return ctrl.Result{}, nil
}

// redeemWaitMessage is the status text of a redemption that failed and will be retried.
func redeemWaitMessage(s *tenantScope, err error) string {
	var apiErr *voucher.Error
	var transport *voucher.TransportError
	switch {
	case errors.As(err, &transport):
		return "the Market API did not answer; retrying"
	case errors.As(err, &apiErr):
		return fmt.Sprintf("the Market API refused %s (code %d); retrying", apiErr.Action, apiErr.Code)
	case apierrors.IsNotFound(err):
		return "the code's Secret " + s.tenant.Spec.Voucher.CodeSecretName + " is missing; the buyer must submit the code again"
	case errors.Is(err, redeem.ErrNoProductName):
		return "the Product does not name its marketplace product (spec.redemption.productName), so the code cannot be checked; it is consumed once that is set"
	case errors.Is(err, redeem.ErrClaimed):
		return "the code is being redeemed for another tenant; it is not consumed for this one"
	case errors.Is(err, redeem.ErrOtherProduct):
		return "the code was bought for another marketplace product than this Product sells; it is not consumed for this one"
	case errors.Is(err, redeem.ErrNoPlan):
		return "the code's spec matches no plan of the Product; retrying when the Product changes"
	default:
		return "the redemption could not be completed yet; retrying (the operator's log says why)"
	}
}
