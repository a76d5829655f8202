package login

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// KeyCache reads the login keys Secret (through the manager's cache) and parses it once per
// version: the front door needs the keys on every login and authUrl, the controller their
// public JWKS on every tenant pass.
type KeyCache struct {
	Reader client.Reader
	Key    client.ObjectKey

	mu      sync.Mutex
	version string
	keys    *Keys
}

// Get returns the keys of the Secret's current version. A missing Secret is a NotFound error.
func (c *KeyCache) Get(ctx context.Context) (*Keys, error) {
	s := &corev1.Secret{}
	if err := c.Reader.Get(ctx, c.Key, s); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys != nil && c.version == s.ResourceVersion {
		return c.keys, nil
	}
	keys, err := LoadKeys(s)
	if err != nil {
		return nil, fmt.Errorf("login keys Secret %s: %w", c.Key.Name, err)
	}
	c.keys, c.version = keys, s.ResourceVersion
	return keys, nil
}
