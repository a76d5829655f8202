package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// devPublicHost stands for the public name the front door is published at. On a real cluster
// it is a DNS name with a certificate of a public authority, reached on port 443; here devenv
// serves it itself, over TLS with a certificate of its own, and only the operator's delivery
// check (DeliveryEndpointReady) is told to dial it there and to trust that certificate.
const devPublicHost = "market.localhost"

// startPublicEndpoint serves the front door over TLS at addr as devPublicHost and points the
// operator's delivery check at it.
func startPublicEndpoint(ctx context.Context, addr string, opts *operator.Options) error {
	_, port, err := net.SplitHostPort(opts.FrontDoor.Addr)
	if err != nil {
		return err
	}
	front, _ := url.Parse("http://127.0.0.1:" + port)
	cert, pool, err := testenv.SelfSignedCertificate(devPublicHost)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("public endpoint: %w", err)
	}
	srv := &http.Server{Handler: httputil.NewSingleHostReverseProxy(front), ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	opts.DeliveryCheck = controllers.DeliveryCheck{
		PublicURL: "https://" + devPublicHost,
		Client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool},
			DialContext: func(ctx context.Context, network, target string) (net.Conn, error) {
				if target == devPublicHost+":443" {
					target = ln.Addr().String()
				}
				return dialer.DialContext(ctx, network, target)
			},
		}},
	}
	return nil
}
