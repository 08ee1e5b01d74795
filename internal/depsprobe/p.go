// Package depsprobe pins the project's module requirements while the packages
// that use them are being written. It holds no code and is deleted once every
// dependency has a real importer.
package depsprobe

import (
	_ "github.com/asynkron/protoactor-go/actor"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/klauspost/compress/gzip"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/pierrec/lz4/v4"
	_ "github.com/quic-go/quic-go"
	_ "github.com/xdg-go/scram"
	_ "go.opentelemetry.io/otel"
	_ "go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	_ "go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	_ "go.opentelemetry.io/otel/metric"
	_ "go.opentelemetry.io/otel/propagation"
	_ "go.opentelemetry.io/otel/sdk/metric"
	_ "go.opentelemetry.io/otel/sdk/trace"
	_ "go.opentelemetry.io/otel/sdk/trace/tracetest"
	_ "go.opentelemetry.io/otel/semconv/v1.37.0"
	_ "go.opentelemetry.io/otel/trace"
	_ "go.uber.org/goleak"
)
