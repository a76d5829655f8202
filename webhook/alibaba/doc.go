// Package alibaba is the front door's adapter for Alibaba Cloud Marketplace (阿里云云市场) SaaS
// products: the SPI through which the marketplace calls the vendor's production URL with
// action= and query parameters, authenticated by an MD5 token (signature.go, request.go and
// response.go are the pure, fuzzed protocol; handler.go serves it and writes tenants through
// webhook/intake). docs/marketplace-alibaba.md is the contract as implemented, with every point
// Alibaba's documents leave open and the reading chosen.
package alibaba
