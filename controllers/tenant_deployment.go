package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// Environment variables the operator sets in every app container, after the product's and the
// plan's own.
const (
	envTenantName    = "TENANT_NAME"
	envTenantProduct = "TENANT_PRODUCT"
	envTenantPlan    = "TENANT_PLAN"
	// envTenantQuantity is the units bought (spec.quantity, 1 when unset).
	envTenantQuantity = "TENANT_QUANTITY"
)

// revisionHistoryLimit bounds the old ReplicaSets kept per tenant.
const revisionHistoryLimit = 3

// planResources returns the container resources of a plan: its own when set, the app
// template's otherwise.
func planResources(p *saasv1alpha1.Product, plan *saasv1alpha1.Plan) corev1.ResourceRequirements {
	if plan.Resources != nil {
		return *plan.Resources
	}
	if p.Spec.App == nil {
		return corev1.ResourceRequirements{}
	}
	return p.Spec.App.Resources
}

// desiredReplicas is the plan's replica count while the tenant is active, and 0 otherwise.
// Suspension keeps the Deployment (and so the data it mounts) and only stops its pods; resuming
// restores the plan's count.
func desiredReplicas(state saasv1alpha1.TenantState, plan *saasv1alpha1.Plan) int32 {
	if state != saasv1alpha1.TenantStateActive {
		return 0
	}
	return ptr.Deref(plan.Replicas, 1)
}

// operatorEnv is the TENANT_* variables the operator sets in every container.
func operatorEnv(t *saasv1alpha1.Tenant, p *saasv1alpha1.Product, plan *saasv1alpha1.Plan) []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: envTenantName, Value: t.Name},
		{Name: envTenantProduct, Value: p.Name},
		{Name: envTenantPlan, Value: plan.Name},
		{Name: envTenantQuantity, Value: strconv.Itoa(int(t.Units()))},
	}
}

// containerSecurity is every container's security context: Pod Security restricted.
func containerSecurity() *corev1ac.SecurityContextApplyConfiguration {
	return corev1ac.SecurityContext().
		WithAllowPrivilegeEscalation(false).
		WithCapabilities(corev1ac.Capabilities().WithDrop("ALL"))
}

// podSecurityContext is the pod's: non-root, RuntimeDefault seccomp, and what the Product sets
// of user, group, fsGroup and seccomp (restricted allows all of it; the API checks the values).
func podSecurityContext(sc *saasv1alpha1.AppSecurityContext) *corev1ac.PodSecurityContextApplyConfiguration {
	pod := corev1ac.PodSecurityContext().WithRunAsNonRoot(true)
	seccomp := corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault)
	if sc != nil {
		if sc.RunAsUser != nil {
			pod.WithRunAsUser(*sc.RunAsUser)
		}
		if sc.RunAsGroup != nil {
			pod.WithRunAsGroup(*sc.RunAsGroup)
		}
		if sc.FSGroup != nil {
			pod.WithFSGroup(*sc.FSGroup)
		}
		if sc.SeccompProfile != nil {
			seccomp = convert[corev1ac.SeccompProfileApplyConfiguration](*sc.SeccompProfile)
		}
	}
	return pod.WithSeccompProfile(seccomp)
}

// extraContainer renders an init container or, with restartPolicy Always, a native sidecar.
func extraContainer(c saasv1alpha1.ExtraContainer, operator []corev1.EnvVar, restart *corev1.ContainerRestartPolicy) *corev1ac.ContainerApplyConfiguration {
	env := append(append([]corev1.EnvVar{}, c.Env...), operator...)
	spec := corev1.Container{Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args, Env: env, Ports: c.Ports,
		Resources: c.Resources, VolumeMounts: c.VolumeMounts, RestartPolicy: restart}
	if restart != nil {
		spec.ReadinessProbe, spec.LivenessProbe, spec.StartupProbe = c.ReadinessProbe, c.LivenessProbe, c.StartupProbe
	}
	return convert[corev1ac.ContainerApplyConfiguration](spec).WithSecurityContext(containerSecurity())
}

// placePod sets the Product's scheduling settings on the pod.
func placePod(pod *corev1ac.PodSpecApplyConfiguration, app *saasv1alpha1.AppTemplate) {
	if len(app.NodeSelector) > 0 {
		pod.WithNodeSelector(app.NodeSelector)
	}
	for _, t := range app.Tolerations {
		pod.WithTolerations(convert[corev1ac.TolerationApplyConfiguration](t))
	}
	if app.Affinity != nil {
		pod.WithAffinity(convert[corev1ac.AffinityApplyConfiguration](*app.Affinity))
	}
	for _, c := range app.TopologySpreadConstraints {
		pod.WithTopologySpreadConstraints(convert[corev1ac.TopologySpreadConstraintApplyConfiguration](c))
	}
	if app.PriorityClassName != "" {
		pod.WithPriorityClassName(app.PriorityClassName)
	}
}

// appEnv merges the app template's env, the plan's env (a name in both takes the plan's value)
// and the operator's TENANT_* variables, keeping first-appearance order.
func appEnv(t *saasv1alpha1.Tenant, p *saasv1alpha1.Product, plan *saasv1alpha1.Plan) []corev1.EnvVar {
	operator := operatorEnv(t, p, plan)
	var env []corev1.EnvVar
	index := map[string]int{}
	for _, layer := range [][]corev1.EnvVar{p.Spec.App.Env, plan.Env, operator} {
		for _, e := range layer {
			if i, ok := index[e.Name]; ok {
				env[i] = e
				continue
			}
			index[e.Name] = len(env)
			env = append(env, e)
		}
	}
	return env
}

// desiredDeployment returns the tenant's app: the product's container, sized by the plan, under
// the Pod Security restricted profile.
func desiredDeployment(t *saasv1alpha1.Tenant, state saasv1alpha1.TenantState, p *saasv1alpha1.Product, plan *saasv1alpha1.Plan, loginURL, rotation string,
	usage []corev1.EnvVar) *appsv1ac.DeploymentApplyConfiguration {
	app := p.Spec.App
	res := planResources(p, plan)
	resources := corev1ac.ResourceRequirements()
	if len(res.Limits) > 0 {
		resources.WithLimits(res.Limits)
	}
	if len(res.Requests) > 0 {
		resources.WithRequests(res.Requests)
	}

	container := corev1ac.Container().
		WithName(appName).
		WithImage(app.Image).
		WithPorts(corev1ac.ContainerPort().WithName(appPortName).WithContainerPort(app.Port).WithProtocol(corev1.ProtocolTCP)).
		WithResources(resources).
		WithSecurityContext(containerSecurity())
	if len(app.Command) > 0 {
		container.WithCommand(app.Command...)
	}
	if len(app.Args) > 0 {
		container.WithArgs(app.Args...)
	}
	for _, e := range appEnv(t, p, plan) {
		container.WithEnv(convert[corev1ac.EnvVarApplyConfiguration](e))
	}
	pod := corev1ac.PodSpec()
	for _, name := range app.ImagePullSecrets {
		// The tenant's copies (tenant_pullsecrets.go), by the same names.
		pod.WithImagePullSecrets(corev1ac.LocalObjectReference().WithName(name))
	}
	if loginURL != "" {
		// The app verifies login tokens offline with the public keys mounted here.
		for _, e := range loginEnv(p, loginURL) {
			container.WithEnv(convert[corev1ac.EnvVarApplyConfiguration](e))
		}
		container.WithVolumeMounts(corev1ac.VolumeMount().WithName(loginVolume).WithMountPath(loginMountPath).WithReadOnly(true))
		pod.WithVolumes(corev1ac.Volume().WithName(loginVolume).WithConfigMap(
			corev1ac.ConfigMapVolumeSource().WithName(loginConfigMapName).WithOptional(true)))
	}
	if len(usage) > 0 {
		// The app reports usage with the credential mounted here (docs/metering.md).
		for _, e := range usage {
			container.WithEnv(convert[corev1ac.EnvVarApplyConfiguration](e))
		}
		container.WithVolumeMounts(corev1ac.VolumeMount().WithName(usageVolume).WithMountPath(usageMountPath).WithReadOnly(true))
		pod.WithVolumes(corev1ac.Volume().WithName(usageVolume).WithSecret(
			corev1ac.SecretVolumeSource().WithSecretName(usageSecretName).WithOptional(true)))
	}
	if app.Storage != nil && plan.Storage != nil {
		container.WithVolumeMounts(corev1ac.VolumeMount().WithName(dataVolume).WithMountPath(app.Storage.MountPath))
		pod.WithVolumes(corev1ac.Volume().WithName(dataVolume).WithPersistentVolumeClaim(
			corev1ac.PersistentVolumeClaimVolumeSource().WithClaimName(saasv1alpha1.DataClaimName)))
	}
	for _, m := range app.VolumeMounts {
		container.WithVolumeMounts(convert[corev1ac.VolumeMountApplyConfiguration](m))
	}
	for _, v := range app.Volumes {
		pod.WithVolumes(convert[corev1ac.VolumeApplyConfiguration](corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{
			EmptyDir: v.EmptyDir, ConfigMap: v.ConfigMap, Secret: v.Secret}}))
	}
	// Sidecars first, so that they run while the init containers do (a database proxy for the
	// migrations), then the init containers, in order.
	always := corev1.ContainerRestartPolicyAlways
	for _, c := range app.Sidecars {
		pod.WithInitContainers(extraContainer(c, operatorEnv(t, p, plan), &always))
	}
	for _, c := range app.InitContainers {
		pod.WithInitContainers(extraContainer(c, operatorEnv(t, p, plan), nil))
	}
	placePod(pod, app)
	if app.ReadinessProbe != nil {
		container.WithReadinessProbe(convert[corev1ac.ProbeApplyConfiguration](*app.ReadinessProbe))
	} else {
		container.WithReadinessProbe(corev1ac.Probe().
			WithTCPSocket(corev1ac.TCPSocketAction().WithPort(intstr.FromString(appPortName))))
	}
	if app.LivenessProbe != nil {
		container.WithLivenessProbe(convert[corev1ac.ProbeApplyConfiguration](*app.LivenessProbe))
	}

	return appsv1ac.Deployment(appName, NamespaceName(t.Name)).
		WithLabels(tenantLabels(t)).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(desiredReplicas(state, plan)).
			WithRevisionHistoryLimit(revisionHistoryLimit).
			WithStrategy(deploymentStrategy(p, plan)).
			WithSelector(metav1Selector(selectorLabels(t))).
			WithTemplate(podTemplate(rotation).
				WithLabels(selectorLabels(t)).
				WithLabels(map[string]string{saasv1alpha1.ProductLabel: t.Spec.Product}).
				WithSpec(pod.
					WithServiceAccountName(appName).
					WithAutomountServiceAccountToken(false).
					WithSecurityContext(podSecurityContext(app.SecurityContext)).
					WithContainers(container))))
}

// podTemplate starts the app's pod template; a rotation of generated Secrets (their digest)
// changes it, and so rolls the app.
func podTemplate(rotation string) *corev1ac.PodTemplateSpecApplyConfiguration {
	t := corev1ac.PodTemplateSpec()
	if rotation != "" {
		t.WithAnnotations(map[string]string{rotationAnnotation: rotation})
	}
	return t
}

// dataVolume names the data volume in the app's pod.
const dataVolume = "data"

// deploymentStrategy is how a change rolls the app. Without a volume, or with one several pods
// may mount (ReadWriteMany), one new pod at a time, never below the plan's count. With a
// ReadWriteOnce volume, Recreate: the old pod stops before the new one starts, because a new pod
// on another node could never mount the volume the old one holds, and the rollout would wait
// forever (maxUnavailable 0). A StatefulSet would avoid two pods too, but its claim templates
// cannot be resized or changed, and it would be a second workload kind for the whole lifecycle
// (suspend, drift, status); one Deployment and one claim the operator owns keep both simple.
// The price is a short outage on each rollout, which docs/apps.md states.
func deploymentStrategy(p *saasv1alpha1.Product, plan *saasv1alpha1.Plan) *appsv1ac.DeploymentStrategyApplyConfiguration {
	if p.Spec.App.Storage != nil && plan.Storage != nil && !p.Spec.App.Storage.Shared() {
		return appsv1ac.DeploymentStrategy().WithType(appsv1.RecreateDeploymentStrategyType)
	}
	return appsv1ac.DeploymentStrategy().
		WithType(appsv1.RollingUpdateDeploymentStrategyType).
		WithRollingUpdate(appsv1ac.RollingUpdateDeployment().
			WithMaxUnavailable(intstr.FromInt32(0)).
			WithMaxSurge(intstr.FromInt32(1)))
}

func (r *TenantReconciler) reconcileDeployment(ctx context.Context, s *tenantScope) error {
	s.deployment = &appsv1.Deployment{}
	key := client.ObjectKey{Namespace: NamespaceName(s.tenant.Name), Name: appName}
	if len(s.pullSecretsMissing) > 0 || len(s.generated.taken) > 0 {
		// The first deployment waits for the registry credentials (its pods could not pull the
		// image). A Deployment already running is kept up to date: its pods pulled already, and
		// the copy of a Secret that went missing is kept.
		if err := r.Get(ctx, key, s.deployment); err != nil {
			s.deployment = &appsv1.Deployment{}
			return client.IgnoreNotFound(err)
		}
	}
	return applyChild(ctx, r.Client, key, s.deployment,
		desiredDeployment(s.tenant, s.life.state, s.product, s.plan, r.loginIssuer(s), s.generated.rotation, usageEnv(s)), appsv1ac.ExtractDeployment)
}

// convert turns an API struct into the apply configuration of the same shape. Both share one
// JSON form, which is how the API server sees them too; a struct decoded from the API always
// encodes, so a failure here is a programming error.
func convert[AC any](v any) *AC {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	ac := new(AC)
	if err := json.Unmarshal(data, ac); err != nil {
		panic(fmt.Sprintf("decode %T into %T: %v", v, ac, err))
	}
	return ac
}

// loginIssuer is the issuer of the tenant's login tokens, empty when it gets none.
func (r *TenantReconciler) loginIssuer(s *tenantScope) string {
	if !s.loginEnabled() {
		return ""
	}
	return r.Login.PublicURL
}
