// Package chart fetches, verifies, loads and renders the Helm charts Products run as their
// tenants' apps, with the Helm v4 SDK: its registry client (OCI), chart loader, values coalescing
// and schema check, template engine and manifest sorter. Nothing here installs a Helm release or
// talks to the cluster about a rendering: the tenant controller applies what Render returns.
package chart

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/registry"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"oras.land/oras-go/v2/registry/remote/auth"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// MaxChartBytes bounds a packaged chart (the .tgz) and every registry response read for it.
const MaxChartBytes = 16 << 20

// fetchTimeout bounds one fetch from a registry, every request of it together.
const fetchTimeout = 60 * time.Second

// maxCached is how many loaded charts the store keeps; the oldest used goes first. A rollout
// needs two (the old version and the new) per product.
const maxCached = 32

// Loaded is a chart fetched, verified and loaded.
type Loaded struct {
	// Ref is what was loaded: name and version from Chart.yaml, and the digest.
	Ref saasv1alpha1.ChartReference
	// archive is the packaged chart; a chart with dependencies is loaded again from it for every
	// rendering, since Helm's dependency processing edits the chart it is given.
	archive []byte
	chart   *chartv2.Chart
	used    time.Time
}

// Error is a failure to get a chart, with the Product condition reason it maps to.
type Error struct {
	// Reason is saasv1alpha1.ChartFetchFailedReason or saasv1alpha1.ChartInvalidReason.
	Reason string
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func fetchFailed(format string, args ...any) error {
	return &Error{Reason: saasv1alpha1.ChartFetchFailedReason, Err: fmt.Errorf(format, args...)}
}

func invalid(format string, args ...any) error {
	return &Error{Reason: saasv1alpha1.ChartInvalidReason, Err: fmt.Errorf(format, args...)}
}

// Store fetches charts and keeps the loaded ones by digest, for every Product and tenant of
// the operator: a chart is pulled once, whatever the number of tenants rendered from it.
type Store struct {
	// Reader reads the pull Secrets, CA ConfigMaps and packaged charts.
	Reader client.Reader
	// Namespace is the operator's namespace, where those live.
	Namespace string

	mu     sync.Mutex
	loaded map[string]*Loaded
	// inflight lets one fetch of a reference run at a time; the others wait for its result.
	inflight map[string]*fetch
}

type fetch struct {
	done   chan struct{}
	loaded *Loaded
	err    error
}

// Resolve finds the chart the Product names now and returns it loaded: for a registry, the
// version's tag is resolved to its digest (one request) and the chart pulled unless it is
// cached; for a packaged chart, the ConfigMap or Secret is read and hashed.
func (s *Store) Resolve(ctx context.Context, p *saasv1alpha1.Product) (*Loaded, error) {
	src := p.Spec.Chart
	switch {
	case src == nil:
		return nil, invalid("product %s has no chart", p.Name)
	case src.OCI != nil:
		digest, err := s.resolveOCI(ctx, src.OCI)
		if err != nil {
			return nil, err
		}
		return s.load(digest, func() ([]byte, error) { return s.pullOCI(ctx, src.OCI, digest) })
	default:
		data, err := s.readPackage(ctx, src.Package)
		if err != nil {
			return nil, err
		}
		return s.load(digestOf(data), func() ([]byte, error) { return data, nil })
	}
}

// Get returns the chart of ref, read from src (a source Resolve resolved it from before): from
// the cache, or fetched again by its digest (after a restart).
func (s *Store) Get(ctx context.Context, src *saasv1alpha1.ChartSource, ref saasv1alpha1.ChartReference) (*Loaded, error) {
	return s.load(ref.Digest, func() ([]byte, error) {
		switch {
		case src == nil || (src.OCI == nil && src.Package == nil):
			return nil, invalid("no chart source for %s", ref.Digest)
		case src.OCI != nil:
			return s.pullOCI(ctx, src.OCI, ref.Digest)
		}
		data, err := s.readPackage(ctx, src.Package)
		if err == nil && digestOf(data) != ref.Digest {
			err = invalid("the packaged chart changed since it was loaded (%s, now %s): give each version a ConfigMap or Secret of its own",
				ref.Digest, digestOf(data))
		}
		return data, err
	})
}

// load returns the chart of digest from the cache, or fetches it with get, checks its digest and
// loads it. Concurrent loads of one digest share one fetch.
func (s *Store) load(digest string, get func() ([]byte, error)) (*Loaded, error) {
	s.mu.Lock()
	if s.loaded == nil {
		s.loaded, s.inflight = map[string]*Loaded{}, map[string]*fetch{}
	}
	if l := s.loaded[digest]; l != nil {
		l.used = time.Now()
		s.mu.Unlock()
		return l, nil
	}
	if f := s.inflight[digest]; f != nil {
		s.mu.Unlock()
		<-f.done
		return f.loaded, f.err
	}
	f := &fetch{done: make(chan struct{})}
	s.inflight[digest] = f
	s.mu.Unlock()

	f.loaded, f.err = loadArchive(digest, get)

	s.mu.Lock()
	delete(s.inflight, digest)
	if f.err == nil {
		s.loaded[digest] = f.loaded
		s.evict()
	}
	s.mu.Unlock()
	close(f.done)
	return f.loaded, f.err
}

// evict drops the least recently used charts beyond maxCached. Called with mu held.
func (s *Store) evict() {
	for len(s.loaded) > maxCached {
		var oldest string
		for d, l := range s.loaded {
			if oldest == "" || l.used.Before(s.loaded[oldest].used) {
				oldest = d
			}
		}
		delete(s.loaded, oldest)
	}
}

func loadArchive(digest string, get func() ([]byte, error)) (*Loaded, error) {
	data, err := get()
	if err != nil {
		return nil, err
	}
	ch, err := loadChart(data)
	if err != nil {
		return nil, err
	}
	return &Loaded{
		Ref:     saasv1alpha1.ChartReference{Name: ch.Metadata.Name, Version: ch.Metadata.Version, Digest: digest},
		archive: data, chart: ch, used: time.Now(),
	}, nil
}

func loadChart(data []byte) (*chartv2.Chart, error) {
	if len(data) > MaxChartBytes {
		return nil, invalid("the chart is %d bytes, more than %d", len(data), MaxChartBytes)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, invalid("not a loadable chart: %v", err)
	}
	if ch.Metadata.Type == "library" {
		return nil, invalid("chart %s is a library chart: it renders nothing", ch.Metadata.Name)
	}
	return ch, nil
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// reference is the registry reference of the source without scheme, e.g. host/charts/notes.
func reference(src *saasv1alpha1.OCIChartSource) string {
	return strings.TrimPrefix(src.URL, registry.OCIScheme+"://")
}

// resolveOCI returns the manifest digest the source names: its version's tag resolved (and
// checked against the pinned digest, when both are set), or the pinned digest.
func (s *Store) resolveOCI(ctx context.Context, src *saasv1alpha1.OCIChartSource) (string, error) {
	if src.Version == "" {
		return src.Digest, nil
	}
	c, err := s.registryClient(ctx, src)
	if err != nil {
		return "", err
	}
	// OCI tags cannot hold "+": Helm pushes a version's "+" as "_".
	ref := reference(src) + ":" + strings.ReplaceAll(src.Version, "+", "_")
	desc, err := c.Resolve(ref)
	if err != nil {
		return "", fetchFailed("resolve %s: %v", ref, err)
	}
	got := desc.Digest.String()
	if src.Digest != "" && got != src.Digest {
		return "", invalid("tag %s points at %s, not at the pinned digest %s", ref, got, src.Digest)
	}
	return got, nil
}

// pullOCI pulls the chart of digest and returns the packaged chart. The registry client
// verifies every blob it reads against its digest, so a tampered chart is refused.
func (s *Store) pullOCI(ctx context.Context, src *saasv1alpha1.OCIChartSource, digest string) ([]byte, error) {
	c, err := s.registryClient(ctx, src)
	if err != nil {
		return nil, err
	}
	ref := reference(src) + "@" + digest
	res, err := c.Pull(ref)
	if err != nil {
		var tooBig *errTooLarge
		if errors.As(err, &tooBig) || strings.Contains(err.Error(), "digest") || strings.Contains(err.Error(), "mediatype") ||
			strings.Contains(err.Error(), "media type") || strings.Contains(err.Error(), "descriptors") {
			return nil, invalid("pull %s: %v", ref, err)
		}
		return nil, fetchFailed("pull %s: %v", ref, err)
	}
	if res.Manifest.Digest != digest {
		return nil, invalid("pull %s: got manifest %s", ref, res.Manifest.Digest)
	}
	return res.Chart.Data, nil
}

// registryClient is a Helm registry client for the source: its credentials only (never the
// operator's own Docker or Helm configuration), its CA, bounded responses and a timeout.
func (s *Store) registryClient(ctx context.Context, src *saasv1alpha1.OCIChartSource) (*registry.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if src.CAConfigMapName != "" {
		pool, err := s.readCA(ctx, src.CAConfigMapName)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	httpClient := &http.Client{Timeout: fetchTimeout, Transport: limitedTransport{next: tr}}
	cred := auth.EmptyCredential
	if src.PullSecretName != "" {
		var err error
		if cred, err = s.readCredentials(ctx, src); err != nil {
			return nil, err
		}
	}
	authorizer := auth.Client{
		Client:     httpClient,
		Cache:      auth.NewCache(),
		Credential: func(context.Context, string) (auth.Credential, error) { return cred, nil },
	}
	opts := []registry.ClientOption{registry.ClientOptHTTPClient(httpClient), registry.ClientOptAuthorizer(authorizer),
		registry.ClientOptWriter(io.Discard)}
	if src.Insecure {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	c, err := registry.NewClient(opts...)
	if err != nil {
		return nil, fetchFailed("registry client: %v", err)
	}
	return c, nil
}

// readCredentials finds the registry's entry in the pull Secret (a .dockerconfigjson).
func (s *Store) readCredentials(ctx context.Context, src *saasv1alpha1.OCIChartSource) (auth.Credential, error) {
	secret := &corev1.Secret{}
	if err := s.Reader.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: src.PullSecretName}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return auth.EmptyCredential, fetchFailed("the pull Secret %s/%s does not exist", s.Namespace, src.PullSecretName)
		}
		return auth.EmptyCredential, err
	}
	var cfg struct {
		Auths map[string]struct {
			Username, Password, Auth string
		} `json:"auths"`
	}
	if err := json.Unmarshal(secret.Data[corev1.DockerConfigJsonKey], &cfg); err != nil {
		return auth.EmptyCredential, fetchFailed("the pull Secret %s has no valid %s", src.PullSecretName, corev1.DockerConfigJsonKey)
	}
	host := strings.SplitN(reference(src), "/", 2)[0]
	for _, key := range []string{host, "https://" + host, "http://" + host} {
		if a, ok := cfg.Auths[key]; ok {
			user, pass := a.Username, a.Password
			if user == "" && a.Auth != "" {
				user, pass = decodeBasic(a.Auth)
			}
			return auth.Credential{Username: user, Password: pass}, nil
		}
	}
	return auth.EmptyCredential, fetchFailed("the pull Secret %s has no credentials for %s", src.PullSecretName, host)
}

func (s *Store) readCA(ctx context.Context, name string) (*x509.CertPool, error) {
	cm := &corev1.ConfigMap{}
	if err := s.Reader.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: name}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fetchFailed("the CA ConfigMap %s/%s does not exist", s.Namespace, name)
		}
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(cm.Data["ca.crt"])) {
		return nil, fetchFailed("the CA ConfigMap %s has no PEM certificate under ca.crt", name)
	}
	return pool, nil
}

// readPackage reads the packaged chart from its ConfigMap or Secret.
func (s *Store) readPackage(ctx context.Context, src *saasv1alpha1.PackagedChartSource) ([]byte, error) {
	key := src.Key
	if key == "" {
		key = "chart.tgz"
	}
	var data []byte
	var where string
	if src.ConfigMapName != "" {
		where = "ConfigMap " + s.Namespace + "/" + src.ConfigMapName
		cm := &corev1.ConfigMap{}
		if err := s.Reader.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: src.ConfigMapName}, cm); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fetchFailed("%s does not exist", where)
			}
			return nil, err
		}
		data = cm.BinaryData[key]
	} else {
		where = "Secret " + s.Namespace + "/" + src.SecretName
		secret := &corev1.Secret{}
		if err := s.Reader.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: src.SecretName}, secret); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fetchFailed("%s does not exist", where)
			}
			return nil, err
		}
		data = secret.Data[key]
	}
	if len(data) == 0 {
		return nil, invalid("%s has no %s", where, key)
	}
	return data, nil
}
