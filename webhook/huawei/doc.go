// Package huawei is the front door's adapter for Huawei Cloud KooGallery (华为云云商店) SaaS
// products, on KooGallery's v2 SaaS interface: the marketplace POSTs JSON with an activity and
// signs it with HMAC-SHA256 under the vendor's access key (signature.go, request.go and
// response.go are the pure, fuzzed protocol); v2 calls carry no SKU, period or trial, so the
// adapter reads them from KooGallery's order-query API (orderquery.go, signed with the vendor's
// API AK/SK). handler.go serves the calls and writes tenants through webhook/intake.
// docs/marketplace-huawei.md is the contract as implemented, with every point Huawei's pages
// leave open or disagree on and the reading chosen.
package huawei
