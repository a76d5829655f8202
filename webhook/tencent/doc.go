// Package tencent implements Tencent Cloud Marketplace's SaaS delivery contract as pure
// functions: the callback signature, tolerant request parsing, and the response shapes. It does no
// I/O, so it is table-tested and fuzzed apart from HTTP. The contract is in
// docs/marketplace-tencent.md.
package tencent
