package controllers

import (
	"context"
	"fmt"
	"maps"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// The buyer bootstrap (app.bootstrap): a Job run once per spec.bootstrapGeneration, after the
// app is first available. Its success is recorded in the status (bootstrappedGeneration), which
// is what "never again" rests on: the Job itself is deleted only on a later pass, once that
// record is written, so a lost status patch can never make the run happen twice. A failed Job is
// kept (its pods' logs say why) and never retried beyond its own backoffLimit; raising the
// generation (kubectl tenant rerun-bootstrap) runs a new one.

const (
	// bootstrapComponent labels the Jobs and the contact copy.
	bootstrapComponent = "bootstrap"
	// bootstrapContactName is the Secret the buyer's contact details are copied into for a run.
	bootstrapContactName = "bootstrap-contact"
	// bootstrapContainer names the Job's container.
	bootstrapContainer = "bootstrap"
	// Environment of the bootstrap Job, besides TENANT_NAME, TENANT_PRODUCT and TENANT_PLAN.
	envTenantURL       = "TENANT_URL"
	envTenantAccountID = "TENANT_ACCOUNT_ID"
	envTenantOpenID    = "TENANT_OPEN_ID"
	envContactPrefix   = "TENANT_CONTACT_"
)

// bootstrapState is what the pass learnt of the bootstrap.
type bootstrapState struct {
	configured bool
	generation int32
	// done: the status records this generation's success.
	done bool
	// waiting: the app was never available yet, so nothing ran.
	waiting bool
	// started: this pass created the Job.
	started bool
	// succeeded / failed: the Job's outcome, seen this pass.
	succeeded, failed   bool
	failReason, failMsg string
}

func bootstrapJobName(generation int32) string { return fmt.Sprintf("bootstrap-%d", generation) }

// reconcileBootstrap runs the bootstrap Job when due and reads its outcome. It runs after the
// Deployment, whose availability it waits for.
func (r *TenantReconciler) reconcileBootstrap(ctx context.Context, s *tenantScope) error {
	s.bootstrap = bootstrapState{}
	var b *saasv1alpha1.Bootstrap
	if app := s.product.Spec.App; app != nil {
		b = app.Bootstrap
	}
	if b == nil && (!s.chartMode() || s.chart.bootstrap == nil) {
		return nil
	}
	st := &s.bootstrap
	st.configured, st.generation = true, s.tenant.Spec.BootstrapGeneration
	recorded := s.tenant.Status.BootstrappedGeneration
	st.done = recorded != nil && *recorded == st.generation
	ns := NamespaceName(s.tenant.Name)

	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(ns), client.MatchingLabels{
		saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, componentLabel: bootstrapComponent}); err != nil {
		return fmt.Errorf("list bootstrap Jobs: %w", err)
	}
	var job *batchv1.Job
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if j.Name == bootstrapJobName(st.generation) && !st.done {
			job = j
			continue
		}
		// Another generation's, or this one's once its success is recorded: its pods go too.
		if err := r.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete bootstrap Job %s: %w", j.Name, err)
		}
	}
	if st.done {
		return deleteChild(ctx, r.Client, client.ObjectKey{Namespace: ns, Name: bootstrapContactName}, &corev1.Secret{})
	}
	if job != nil {
		for _, c := range job.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				continue
			}
			switch c.Type {
			case batchv1.JobComplete:
				st.succeeded = true
			case batchv1.JobFailed:
				st.failed, st.failReason, st.failMsg = true, c.Reason, c.Message
			}
		}
		return nil
	}
	if s.life.state != saasv1alpha1.TenantStateActive {
		return nil
	}
	if !s.appAvailable() {
		st.waiting = true
		return nil
	}
	var run *batchv1.Job
	if b != nil {
		contact := false
		if b.IncludeContact && s.tenant.Spec.Buyer.ContactSecretName != "" {
			var err error
			if contact, err = r.copyContact(ctx, s); err != nil {
				return err
			}
		}
		run = desiredBootstrapJob(s, contact)
	} else {
		var err error
		if run, err = chartBootstrapJob(s); err != nil {
			return err
		}
	}
	if err := r.Create(ctx, run, client.FieldOwner(FieldOwner)); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("create bootstrap Job: %w", err)
	}
	st.started = true
	return nil
}

// copyContact copies the buyer's contact Secret (operator namespace) into the tenant namespace
// for the Job; false when the order carried none.
func (r *TenantReconciler) copyContact(ctx context.Context, s *tenantScope) (bool, error) {
	source := &corev1.Secret{}
	err := r.Get(ctx, client.ObjectKey{Namespace: r.Login.Namespace, Name: s.tenant.Spec.Buyer.ContactSecretName}, source)
	if apierrors.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("read the contact Secret: %w", err)
	}
	labels := tenantLabels(s.tenant)
	labels[componentLabel] = bootstrapComponent
	copied := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: NamespaceName(s.tenant.Name), Name: bootstrapContactName, Labels: labels},
		Type:       corev1.SecretTypeOpaque,
		Data:       maps.Clone(source.Data),
	}
	if err := r.Create(ctx, copied, client.FieldOwner(FieldOwner)); client.IgnoreAlreadyExists(err) != nil {
		return false, fmt.Errorf("copy the contact Secret: %w", err)
	}
	return true, nil
}

// desiredBootstrapJob is the Job of the tenant's current bootstrap generation.
func desiredBootstrapJob(s *tenantScope, contact bool) *batchv1.Job {
	t, p, app := s.tenant, s.product, s.product.Spec.App
	b := app.Bootstrap
	labels := tenantLabels(t)
	labels[componentLabel] = bootstrapComponent
	env := append([]corev1.EnvVar{}, b.Env...)
	env = append(env, operatorEnv(t, p, s.plan)...)
	env = append(env,
		corev1.EnvVar{Name: envTenantURL, Value: p.Spec.Exposure.URL(t.Name)},
		corev1.EnvVar{Name: envTenantAccountID, Value: t.Spec.Buyer.AccountID},
		corev1.EnvVar{Name: envTenantOpenID, Value: t.Spec.Buyer.OpenID})
	container := corev1.Container{Name: bootstrapContainer, Image: b.Image, Command: b.Command, Args: b.Args, Env: env, Resources: b.Resources,
		SecurityContext: convert[corev1.SecurityContext](containerSecurity())}
	if contact {
		container.EnvFrom = []corev1.EnvFromSource{{Prefix: envContactPrefix, SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: bootstrapContactName}, Optional: ptr.To(true)}}}
	}
	pod := corev1.PodSpec{
		RestartPolicy:                corev1.RestartPolicyNever,
		ServiceAccountName:           appName,
		AutomountServiceAccountToken: ptr.To(false),
		Containers:                   []corev1.Container{container},
		SecurityContext:              podSecurity(app.SecurityContext),
	}
	for _, name := range app.ImagePullSecrets {
		pod.ImagePullSecrets = append(pod.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: bootstrapJobName(t.Spec.BootstrapGeneration), Namespace: NamespaceName(t.Name), Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To(ptr.Deref(b.BackoffLimit, 3)),
			ActiveDeadlineSeconds: ptr.To(ptr.Deref(b.ActiveDeadlineSeconds, 600)),
			// Not the app's selector labels: the app's Service must not send buyers to it.
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		},
	}
}

// podSecurity is podSecurityContext as an API struct.
func podSecurity(sc *saasv1alpha1.AppSecurityContext) *corev1.PodSecurityContext {
	return convert[corev1.PodSecurityContext](podSecurityContext(sc))
}

// bootstrappedCondition says where the bootstrap stands; nil without app.bootstrap.
func bootstrappedCondition(s *tenantScope) *metav1.Condition {
	st := s.bootstrap
	if !st.configured {
		return nil
	}
	c := &metav1.Condition{Type: saasv1alpha1.BootstrappedCondition, Status: metav1.ConditionFalse}
	job := bootstrapJobName(st.generation)
	switch {
	case st.done || st.succeeded:
		c.Status, c.Reason = metav1.ConditionTrue, saasv1alpha1.BootstrapSucceededReason
		c.Message = fmt.Sprintf("The bootstrap Job (run %d) succeeded; it is not run again", st.generation)
	case st.failed:
		c.Reason = saasv1alpha1.BootstrapFailedReason
		c.Message = fmt.Sprintf("The bootstrap Job %s failed (%s: %s); its pods' logs say why. kubectl tenant rerun-bootstrap runs it again",
			job, st.failReason, st.failMsg)
	case st.waiting:
		c.Reason, c.Message = saasv1alpha1.WaitingForAppReason, "The bootstrap Job runs once the app is available"
	case s.life.state != saasv1alpha1.TenantStateActive:
		c.Reason, c.Message = saasv1alpha1.WaitingForAppReason, "The bootstrap Job runs once the tenant is active"
	default:
		c.Reason, c.Message = saasv1alpha1.BootstrapRunningReason, fmt.Sprintf("The bootstrap Job %s is running", job)
	}
	return c
}
