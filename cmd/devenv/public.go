package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
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
	cert, pool, err := devCertificate(devPublicHost)
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

// devCertificate makes a self-signed certificate for host, and the pool that trusts it.
func devCertificate(host string) (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(0, 0, 30), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
